// Regent patch tests (round 5): a rule head's static paths computed once per policy (`RuleRefPaths`),
// a set rule's definition that adds nothing only checked against `data`, a rule's context moved
// onto the stack when it has one body, the empty `rule_value` of a context that is not a rule's,
// the scope stacks kept for reuse, and field chains collected in place. `Set::append`'s own test
// is in `value/tests.rs`.

// Test code: assertions are the point.
#![allow(clippy::panic_in_result_fn, clippy::indexing_slicing, clippy::panic)]

use crate::*;
use anyhow::Result;

const FIRST: &str = r#"
package r5.heads
import rego.v1

# A partial set with many definitions (each adds one element to data).
many contains 1 if input.on
many contains 2 if input.on
many contains 3 if input.on
many contains 4 if input.on
many contains 5 if input.on
many contains 6 if input.on
many contains 7 if input.on
many contains 8 if input.on
many contains 9 if input.on
many contains 10 if input.on
many contains 11 if input.on
many contains 12 if input.on
many contains x if some x in input.more

# A set whose definitions all fail: still an empty set.
none contains 1 if input.never
none contains 2 if input.never

# Dotted heads, complete and partial.
a.b.c := input.n + 1
a.b.d contains input.n
a.b.d contains 7 if input.on
e.f := {"k": input.n} if input.on
e.f := {} if not input.on

# An object rule (a bracketed head: built per definition, as before).
obj[k] := v if some k, v in input.kv
obj["fixed"] := 1

# Several bodies, else, functions and comprehensions whose outputs are empty collections.
multi contains "x" if input.on
multi contains "y" if input.n > 2
level := "high" if { input.n > 5 } else := "low"
empty_obj := {}
empty_arr := []
f(x) := {} if x
f(x) := {"no": true} if not x
called := f(input.on)
comp := {k | some k in input.more; k > 100}
count_many := count(many)
"#;

const SECOND: &str = r#"
package r5.heads
import rego.v1

# The same package in a second module: its definitions share the paths.
many contains 13 if input.on
a.b.d contains 8 if input.on
"#;

// OPA v1.20's answers (`opa_bindings`: `eval_document("r5.heads", input)` with both modules; sets
// are JSON arrays, sorted).
const CASES: [(&str, &str); 2] = [
    (
        r#"{"on": true, "n": 6, "more": [20, 300, 21], "kv": {"x": 1, "y": [2]}}"#,
        r#"{"a": {"b": {"c": 7, "d": [6, 7, 8]}}, "called": {}, "comp": [300], "count_many": 16, "e": {"f": {"k": 6}}, "empty_arr": [], "empty_obj": {}, "level": "high", "many": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 20, 21, 300], "multi": ["x", "y"], "none": [], "obj": {"fixed": 1, "x": 1, "y": [2]}}"#,
    ),
    (
        r#"{"on": false, "n": 1, "more": [], "kv": {}}"#,
        r#"{"a": {"b": {"c": 2, "d": [1]}}, "called": {"no": true}, "comp": [], "count_many": 0, "e": {"f": {}}, "empty_arr": [], "empty_obj": {}, "level": "low", "many": [], "multi": [], "none": [], "obj": {"fixed": 1}}"#,
    ),
];

fn engine() -> Result<Engine> {
    super::strict_engine(&[("first.rego", FIRST), ("second.rego", SECOND)])
}

fn json(value: &Value) -> Result<serde_json::Value> {
    Ok(serde_json::from_str(&value.to_json_str()?)?)
}

#[test]
fn rule_heads_match_opa_whole_package_and_rule_by_rule() -> Result<()> {
    let mut reused = engine()?;
    for (input, expected) in CASES {
        let expected: serde_json::Value = serde_json::from_str(expected)?;
        // The whole package (a query: it is not a rule path), on an engine reused across inputs.
        reused.set_input(Value::from_json_str(input)?);
        let results = reused.eval_query("data.r5.heads".to_string(), false)?;
        let package = &results.result[0].expressions[0].value;
        assert_eq!(json(package)?, expected, "input {input}");
        // Each rule alone on a fresh engine: it is evaluated without its siblings.
        for path in [
            "many",
            "none",
            "a.b.c",
            "a.b.d",
            "e.f",
            "obj",
            "multi",
            "level",
            "empty_obj",
            "empty_arr",
            "called",
            "comp",
            "count_many",
        ] {
            let mut fresh = engine()?;
            fresh.set_input(Value::from_json_str(input)?);
            let got = fresh.eval_rule(format!("data.r5.heads.{path}"))?;
            let pointer = format!("/{}", path.replace('.', "/"));
            let Some(want) = expected.pointer(&pointer) else {
                panic!("no {pointer} in the expected answer");
            };
            assert_eq!(&json(&got)?, want, "rule {path}, input {input}");
        }
    }
    Ok(())
}

#[test]
fn a_set_rule_that_adds_nothing_is_an_empty_set_and_leaves_data_alone() -> Result<()> {
    let mut with_data = engine()?;
    // A value in the data document at a rule's path is preferred to the rule (as upstream).
    with_data.add_data(Value::from_json_str(r#"{"r5": {"heads": {"none": [5]}}}"#)?)?;
    with_data.set_input(Value::from_json_str(CASES[1].0)?);
    let none = with_data.eval_rule("data.r5.heads.none".to_string())?;
    assert_eq!(json(&none)?, serde_json::json!([5]));
    let mut plain = engine()?;
    plain.set_input(Value::from_json_str(CASES[1].0)?);
    let empty = plain.eval_rule("data.r5.heads.none".to_string())?;
    assert_eq!(empty, Value::new_set());
    Ok(())
}

const SCOPES: &str = r#"
package r5.scopes
import rego.v1

# Variables of the same names at several depths: a rule, the functions it calls (one calling
# another), a comprehension calling a function.
f(x) := y if {
	y := x + 1
	z := g(y)
	z > 0
}

g(x) := y if y := x * 2

h(xs) := [v | some v in xs; w := f(v); w > 2]

r := [x, y, h(input.xs)] if {
	x := f(1)
	y := g(x)
}

# Chains of fields: 8 (in place), 10 (spilled), brackets, through a loop variable, before a
# number index.
deep := input.a.b.c.d.e.f.g.h

deeper := input.a.b.c.d.e.f.g.h.i.j

deep_bracket := input.a["b"].c["d"].e.f.g.h.i

deep_loop := [v | some o in input.list; v := o.a.b.c.d.e.f.g.h.i]

deep_index := input.list[0].a.b.c.d.e.f.g.h.i

missing := input.a.b.c.d.e.f.g.h.x.y

# A function's parameter named like a rule that a later rule reads: the rule, not the parameter.
k(level) := level + 1

level := 7

uses_level := level * 10

stale := [k(1), uses_level]
"#;

// OPA v1.20's answer (`opa_bindings`: `eval_document("r5.scopes", input)`).
const SCOPES_INPUT: &str = r#"{"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": "ten"}, "k": 8}}}}}}}}, "xs": [0, 1, 2, 5], "list": [{"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}, {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 2}}}}}}}}}, {"a": 3}]}"#;
const SCOPES_ANSWER: &str = r#"{"deep": {"i": {"j": "ten"}, "k": 8}, "deep_bracket": {"j": "ten"}, "deep_index": 1, "deep_loop": [1, 2], "deeper": "ten", "level": 7, "r": [2, 4, [2, 5]], "stale": [2, 70], "uses_level": 70}"#;

#[test]
fn nested_scopes_and_long_field_chains_match_opa() -> Result<()> {
    let scopes_engine = || -> Result<Engine> {
        let mut engine = super::strict_engine(&[("scopes.rego", SCOPES)])?;
        engine.set_input(Value::from_json_str(SCOPES_INPUT)?);
        Ok(engine)
    };
    let expected: serde_json::Value = serde_json::from_str(SCOPES_ANSWER)?;
    // Twice on one engine (the kept scope stacks are reused), then each rule on a fresh one.
    let mut reused = scopes_engine()?;
    for _ in 0..2 {
        let results = reused.eval_query("data.r5.scopes".to_string(), false)?;
        assert_eq!(json(&results.result[0].expressions[0].value)?, expected);
    }
    for rule in [
        "r",
        "deep",
        "deeper",
        "deep_bracket",
        "deep_loop",
        "deep_index",
        "missing",
        "stale",
    ] {
        let got = scopes_engine()?.eval_rule(format!("data.r5.scopes.{rule}"))?;
        match expected.get(rule) {
            Some(want) => assert_eq!(&json(&got)?, want, "rule {rule}"),
            None => assert_eq!(got, Value::Undefined, "rule {rule}"),
        }
    }
    Ok(())
}
