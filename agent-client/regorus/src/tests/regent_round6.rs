// Regent patch tests (round 6): rule guards (a definition whose first scheduled statement fails is
// not entered; one whose first statement succeeds runs from its second) and the exact conflict
// check for policies whose rule paths are static and prefix-free.

// Test code: assertions are the point.
#![allow(clippy::panic_in_result_fn, clippy::indexing_slicing, clippy::panic)]

use crate::ast::Ref;
use crate::*;
use anyhow::Result;

const GUARDS: &str = r#"
package r6.guards

import rego.v1

on if input.on

off := false

# The first statement a rule (true, undefined or false), negated or not.
a contains "on" if {
	on
	input.n > 1
}

a contains "off" if {
	off
	input.n > 1
}

a contains "not_on" if not on

a contains "not_off" if not off

# A value that is neither true nor false counts as true; an undefined one fails.
b := input.n if input.n

c := "zero" if {
	input.n
	input.n == 0
}

# A call (its value, or its negation) and a comparison.
big(x) if x > 10

d contains "big" if big(input.n)

d contains "small" if not big(input.n)

d contains "s" if {
	input.s == "x"
	input.n > 0
}

# Statements that are no guard: an assignment, a loop, a `with`.
e := y if {
	y := input.n * 2
	y > 2
}

f contains k if input.xs[k] > 1

g := v if {
	on with input.on as true
	v := input.n
}

# An object rule and a single-statement rule.
h[k] := 1 if {
	on
	some k in input.keys
}

only if on

# An else chain (no guard: more than one body).
level := "on" if on
else := "off"
"#;

// OPA v1.20's answers (`opa_bindings`: `eval_document("r6.guards", input)`; sets are JSON arrays,
// sorted).
const GUARD_CASES: [(&str, &str); 3] = [
    (
        r#"{"on": true, "n": 12, "s": "x", "xs": [0, 5, 1, 7], "keys": ["p", "q"]}"#,
        r#"{"a": ["not_off", "on"], "b": 12, "d": ["big", "s"], "e": 24, "f": [1, 3], "g": 12, "h": {"p": 1, "q": 1}, "level": "on", "off": false, "on": true, "only": true}"#,
    ),
    (
        r#"{"on": false, "n": 0, "s": "y", "xs": [], "keys": ["p"]}"#,
        r#"{"a": ["not_off", "not_on"], "b": 0, "c": "zero", "d": ["small"], "f": [], "g": 0, "h": {}, "level": "off", "off": false}"#,
    ),
    (
        r#"{"n": 5, "xs": [3]}"#,
        r#"{"a": ["not_off", "not_on"], "b": 5, "d": ["small"], "e": 10, "f": [0], "g": 5, "h": {}, "level": "off", "off": false}"#,
    ),
];

fn json(value: &Value) -> Result<serde_json::Value> {
    Ok(serde_json::from_str(&value.to_json_str()?)?)
}

fn guards_engine(input: &str) -> Result<Engine> {
    let mut engine = super::strict_engine(&[("guards.rego", GUARDS)])?;
    engine.set_input(Value::from_json_str(input)?);
    Ok(engine)
}

/// The package `r6.guards` for `input`, evaluated as a query on a fresh engine.
fn guards_package(input: &str, tracing: bool) -> Result<serde_json::Value> {
    let results = guards_engine(input)?.eval_query("data.r6.guards".to_string(), tracing)?;
    json(&results.result[0].expressions[0].value)
}

#[test]
fn guarded_rules_match_opa_whole_package_and_rule_by_rule() -> Result<()> {
    for (input, expected) in GUARD_CASES {
        let expected: serde_json::Value = serde_json::from_str(expected)?;
        assert_eq!(guards_package(input, false)?, expected, "input {input}");
        // Each rule alone on a fresh engine, so that its guard evaluates the rules it names.
        for rule in [
            "on", "off", "a", "b", "c", "d", "e", "f", "g", "h", "only", "level",
        ] {
            let got = guards_engine(input)?.eval_rule(format!("data.r6.guards.{rule}"))?;
            match expected.get(rule) {
                Some(want) => assert_eq!(&json(&got)?, want, "rule {rule}, input {input}"),
                None => assert_eq!(got, Value::Undefined, "rule {rule}, input {input}"),
            }
        }
        // Tracing turns the guards off: the same answer.
        assert_eq!(
            guards_package(input, true)?,
            expected,
            "traced, input {input}"
        );
    }
    Ok(())
}

const GUARD_ERRORS: &str = r#"
package r6.errors

import rego.v1

# A built-in error in the first statement is the rule's error, guard or not.
loud if {
	upper(input.n) == "X"
	input.on
}

quiet if {
	input.on
	upper(input.n) == "X"
}
"#;

#[test]
fn an_error_in_a_guard_is_the_rules_error() -> Result<()> {
    for (rule, on, fails) in [
        ("loud", true, true),
        ("loud", false, true),
        ("quiet", true, true),
        // The guard fails first: the erroneous statement is never reached (as before).
        ("quiet", false, false),
    ] {
        let mut engine = super::strict_engine(&[("errors.rego", GUARD_ERRORS)])?;
        engine.set_input(Value::from_json_str(&format!(r#"{{"n": 5, "on": {on}}}"#))?);
        match engine.eval_rule(format!("data.r6.errors.{rule}")) {
            Err(e) if fails => assert!(e.to_string().contains("upper"), "{rule}, on {on}: {e}"),
            Err(e) => panic!("{rule}, on {on}: unexpected error {e}"),
            Ok(v) if fails => panic!("{rule}, on {on}: expected an error, got {v}"),
            Ok(v) => assert_eq!(v, Value::Undefined, "{rule}, on {on}"),
        }
    }
    Ok(())
}

fn lookup(modules: &[(&str, &str)]) -> Result<bool> {
    let mut parsed = Vec::new();
    for &(name, text) in modules {
        let source = lexer::Source::from_contents(name.to_string(), text.to_string())?;
        let mut parser = parser::Parser::new(&source)?;
        parsed.push(Ref::new(parser.parse()?));
    }
    Ok(compiled_policy::ModuleLookup::new(&parsed).rule_paths_exact())
}

#[test]
fn rule_paths_are_exact_only_when_static_and_prefix_free() -> Result<()> {
    let plain =
        "package p\nimport rego.v1\nx := 1\ns contains 1\na.b := 2\na.c contains 3\nf(x) := x\n";
    assert!(lookup(&[("p.rego", plain)])?);
    // The same paths in another module of the package, and a sibling package: still exact.
    let again = "package p\nimport rego.v1\nx := 1\na.b := 2\n";
    let sibling = "package p.q\nimport rego.v1\ny := 1\n";
    assert!(lookup(&[
        ("p.rego", plain),
        ("again.rego", again),
        ("q.rego", sibling)
    ])?);
    // A rule path that is a prefix of another's.
    let prefix = "package p\nimport rego.v1\na.b := 1\na.b.c := 2\n";
    assert!(!lookup(&[("prefix.rego", prefix)])?);
    // ... also across packages (data.p.q is a rule of package p and the package p.q).
    let rule_q = "package p\nimport rego.v1\nq := 1\n";
    assert!(!lookup(&[("rule_q.rego", rule_q), ("q.rego", sibling)])?);
    // An object rule's path has a key computed per definition.
    let object = "package p\nimport rego.v1\nobj[k] := 1 if some k in input.keys\n";
    assert!(!lookup(&[("object.rego", object)])?);
    Ok(())
}

const CONFLICTS: &str = r#"
package r6.conflicts

import rego.v1

x := 1 if input.one

x := 2 if input.two

s contains 1 if input.one

s contains 2 if input.two
"#;

const PREFIXES: &str = r#"
package r6.prefixes

import rego.v1

a.b := 1 if input.one

a.b.c := 2 if input.two
"#;

#[test]
fn conflicts_are_reported_with_exact_paths_and_without() -> Result<()> {
    let eval = |modules: &[(&str, &str)], rule: &str, input: &str| -> Result<Result<Value>> {
        let mut engine = super::strict_engine(modules)?;
        engine.set_input(Value::from_json_str(input)?);
        Ok(engine.eval_rule(rule.to_string()))
    };
    let both = r#"{"one": true, "two": true}"#;
    let one = r#"{"one": true, "two": false}"#;
    // Exact paths: two different values of a complete rule conflict; a set's definitions do not.
    let conflicts = [("conflicts.rego", CONFLICTS)];
    match eval(&conflicts, "data.r6.conflicts.x", both)? {
        Err(e) => assert!(
            e.to_string()
                .contains("rule conflicts with rule at conflicts.rego:6:"),
            "{e}"
        ),
        Ok(v) => panic!("expected a conflict, got {v}"),
    }
    assert_eq!(
        eval(&conflicts, "data.r6.conflicts.x", one)??,
        Value::from(1)
    );
    assert_eq!(
        json(&eval(&conflicts, "data.r6.conflicts.s", both)??)?,
        serde_json::json!([1, 2])
    );
    // Prefix paths (the range scan and the data document, as upstream): the two rules conflict.
    let query = |input: &str| -> Result<Result<QueryResults>> {
        let mut engine = super::strict_engine(&[("prefixes.rego", PREFIXES)])?;
        engine.set_input(Value::from_json_str(input)?);
        Ok(engine.eval_query("data.r6.prefixes.a".to_string(), false))
    };
    match query(both)? {
        Err(e) => assert!(
            e.to_string()
                .contains("complete rules should not produce multiple outputs"),
            "{e}"
        ),
        Ok(v) => panic!("expected a conflict, got {v:?}"),
    }
    Ok(())
}
