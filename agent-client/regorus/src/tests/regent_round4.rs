// Regent patch tests (round 4): the loop-variable table grown on first write, the package
// components shared between modules, and variable lookups through their plans (`VarPlan`).

// Test code: assertions are the point.
#![allow(clippy::panic_in_result_fn, clippy::indexing_slicing, clippy::panic)]

use crate::ast::Ref;
use crate::*;
use anyhow::Result;

// Loops in two modules, the second module's at higher expression indexes than anything in the
// first, a loop inside a function called from a loop, and a comprehension over a partial set.
const FIRST: &str = r#"
package first
import rego.v1

doubled := [d | some v in input.xs; d := v * 2]
"#;

const SECOND: &str = r#"
package second
import rego.v1
import data.first

padding := [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]

big contains v if {
    some v in input.xs
    v > 1
}

sum_of(ys) := s if s := sum([y | some y in ys])

pairs := [[x, sum_of(first.doubled)] | some x in big]

every_positive if every v in input.xs { v > 0 }

# Hoisted loops (the ones that keep values in the loop-variable table): `_` and named indexes, walk.
indexed contains v if {
    v := input.xs[_]
    v > 1
}

positions := [i | input.xs[i] > 1]

walked := [p | walk(input, [p, v]); is_number(v)]
"#;

fn set_of(json: &str) -> Result<Value> {
    let mut set = Value::new_set();
    for item in Value::from_json_str(json)?.as_array()?.iter() {
        set.as_set_mut()?.insert(item.clone());
    }
    Ok(set)
}

fn engine() -> Result<Engine> {
    super::strict_engine(&[("first.rego", FIRST), ("second.rego", SECOND)])
}

#[test]
fn loops_evaluate_on_fresh_and_reused_engines() -> Result<()> {
    let template = engine()?;
    for (xs, pairs, every, indexed, positions, walked) in [
        (
            "[1, 2, 3]",
            "[[2, 12], [3, 12]]",
            true,
            "[2, 3]",
            "[1, 2]",
            r#"[["xs", 0], ["xs", 1], ["xs", 2]]"#,
        ),
        (
            "[5, -1]",
            "[[5, 8]]",
            false,
            "[5]",
            "[0]",
            r#"[["xs", 0], ["xs", 1]]"#,
        ),
        ("[]", "[]", true, "[]", "[]", "[]"),
    ] {
        let input = Value::from_json_str(&format!(r#"{{"xs": {xs}}}"#))?;
        // A clone of the unevaluated template (the agent's per-call engine) and the template
        // itself, evaluated again and again: the table starts empty or holds earlier sizes.
        for mut e in [template.clone(), template.clone()] {
            e.set_input(input.clone());
            assert_eq!(
                e.eval_rule("data.second.pairs".to_string())?,
                Value::from_json_str(pairs)?,
                "{xs}"
            );
            let every_value = e.eval_rule("data.second.every_positive".to_string())?;
            assert_eq!(every_value == Value::from(true), every, "{xs}");
            assert_eq!(
                e.eval_rule("data.second.indexed".to_string())?,
                set_of(indexed)?,
                "{xs}"
            );
            assert_eq!(
                e.eval_rule("data.second.positions".to_string())?,
                Value::from_json_str(positions)?,
                "{xs}"
            );
            assert_eq!(
                e.eval_rule("data.second.walked".to_string())?,
                Value::from_json_str(walked)?,
                "{xs}"
            );
        }
        let mut reused = template.clone();
        reused.set_input(input.clone());
        reused.eval_rule("data.first.doubled".to_string())?;
        // A query (its own module index, after the policy's) with a loop of its own.
        let results = reused.eval_query("[x | some x in data.second.big]".to_string(), false)?;
        let got = results.result[0].expressions[0].value.clone();
        let mut expected: Vec<Value> = Value::from_json_str(xs)?
            .as_array()?
            .iter()
            .filter(|v| **v > Value::from(1))
            .cloned()
            .collect();
        expected.sort();
        assert_eq!(got, Value::from(expected), "{xs}");
    }
    Ok(())
}

#[test]
fn modules_share_their_common_package_components() -> Result<()> {
    let mut modules = Vec::new();
    for (name, text) in [
        ("a.rego", "package regent.lib.a\nx := 1\n"),
        ("b.rego", "package regent.lib.b\ny := 2\n"),
        ("c.rego", "package regent.tools[\"x-y\"]\nz := 3\n"),
    ] {
        let source = lexer::Source::from_contents(name.to_string(), text.to_string())?;
        let mut parser = parser::Parser::new(&source)?;
        modules.push(Ref::new(parser.parse()?));
    }
    let lookup = compiled_policy::ModuleLookup::new(&modules);
    let values = |i: usize| {
        lookup
            .module(&modules[i])
            .and_then(|info| info.package_values.clone())
    };
    let (Some(a), Some(b)) = (values(0), values(1)) else {
        panic!("dotted packages have their component values");
    };
    assert_eq!(
        &*a,
        &[Value::from("regent"), Value::from("lib"), Value::from("a")][..]
    );
    assert_eq!(b[2], Value::from("b"));
    // The same allocation for every equal component.
    for i in 0..2 {
        let (Value::String(x), Value::String(y)) = (a[i].clone(), b[i].clone()) else {
            panic!("string components expected");
        };
        assert!(Rc::ptr_eq(&x, &y), "component {i}");
    }
    // A package with an index is left to the interpreter, as before.
    assert!(values(2).is_none());
    Ok(())
}

// Lookups of every kind a `VarPlan` covers: `data.` paths (a rule, a partial set, a default rule, a
// path into a rule's value, a package document, an undefined path), names of the current module
// (rules, a local variable and a function argument shadowing a rule, the one rule of several
// under a prefix), import aliases of a package
// (with and without fields), of `input` and of plain data, and lookups under `with`.
const PLAN_LIB: &str = r#"
package lib.names

import rego.v1

user := input.user

default level := "none"

level := "high" if input.user.role == "admin"

tags contains "a" if input.user

tags contains "b" if input.flag

labels.owner := input.user.name

labels.team := "core"
"#;

const PLAN_POLICY: &str = r#"
package p

import rego.v1
import data.lib.names
import data.lib.names as n
import input.user as u
import data.cfg

direct := [data.lib.names.level, data.lib.names.tags, data.lib.names.labels.owner, data.lib.names.labels]

by_alias := [names.level, n.tags, n.labels.team, count(names.tags)]

whole_alias := n

input_alias := [u.name, u]

cfg_values := [cfg.limit, data.cfg.limit, cfg]

own := [level, tags, direct[0]]

level := "own"

tags contains x if some x in ["t1", "t2"]

shadow := v if {
	level := "local"
	v := level
}

fn(level) := level

shadowed_arg := fn("arg")

under_with := [a, b] if {
	a := names.level with input.user as {"role": "admin", "name": "w"}
	b := n.tags with input.flag as false
}

with_data := x if {
	x := cfg.limit with data.cfg.limit as 99
}

package_doc := data.lib.names.labels

missing := data.lib.names.nothing

default missing_default := "dflt"

missing_default := data.lib.names.nothing

obj.a := 1

obj.b := to_number(input.user.name)

obj_a := [obj.a, data.p.obj.a]
"#;

/// What OPA v1.20 answers for `data.p.<rule>` on the policies above (`opa_bindings`), for two
/// inputs; `None` is undefined.
const PLAN_EXPECTED: &[(&str, Option<&str>, Option<&str>)] = &[
    (
        "direct",
        Some(r#"["none", ["a", "b"], "ann", {"owner": "ann", "team": "core"}]"#),
        Some(r#"["high", ["a"], "bo", {"owner": "bo", "team": "core"}]"#),
    ),
    (
        "by_alias",
        Some(r#"["none", ["a", "b"], "core", 2]"#),
        Some(r#"["high", ["a"], "core", 1]"#),
    ),
    (
        "whole_alias",
        Some(
            r#"{"labels": {"owner": "ann", "team": "core"}, "level": "none", "tags": ["a", "b"], "user": {"name": "ann", "role": "dev"}}"#,
        ),
        Some(
            r#"{"labels": {"owner": "bo", "team": "core"}, "level": "high", "tags": ["a"], "user": {"name": "bo", "role": "admin"}}"#,
        ),
    ),
    (
        "input_alias",
        Some(r#"["ann", {"name": "ann", "role": "dev"}]"#),
        Some(r#"["bo", {"name": "bo", "role": "admin"}]"#),
    ),
    (
        "cfg_values",
        Some(r#"[7, 7, {"limit": 7}]"#),
        Some(r#"[7, 7, {"limit": 7}]"#),
    ),
    (
        "own",
        Some(r#"["own", ["t1", "t2"], "none"]"#),
        Some(r#"["own", ["t1", "t2"], "high"]"#),
    ),
    ("shadow", Some(r#""local""#), Some(r#""local""#)),
    ("shadowed_arg", Some(r#""arg""#), Some(r#""arg""#)),
    (
        "under_with",
        Some(r#"["high", ["a"]]"#),
        Some(r#"["high", ["a"]]"#),
    ),
    ("with_data", Some("99"), Some("99")),
    (
        "package_doc",
        Some(r#"{"owner": "ann", "team": "core"}"#),
        Some(r#"{"owner": "bo", "team": "core"}"#),
    ),
    ("missing", None, None),
    // Only the rule read is evaluated: `obj.b` fails (strict built-in errors) if it is.
    ("obj_a", Some("[1, 1]"), Some("[1, 1]")),
    ("missing_default", Some(r#""dflt""#), Some(r#""dflt""#)),
];

/// A value as JSON with sets as sorted arrays (OPA's rendering), for comparison with OPA's answers.
fn as_json(value: &Value) -> Result<serde_json::Value> {
    Ok(serde_json::from_str(&value.to_json_str()?)?)
}

#[test]
fn planned_lookups_answer_as_opa() -> Result<()> {
    let mut template = super::strict_engine(&[("lib.rego", PLAN_LIB), ("p.rego", PLAN_POLICY)])?;
    template.add_data(Value::from_json_str(r#"{"cfg": {"limit": 7}}"#)?)?;
    let inputs = [
        r#"{"user": {"role": "dev", "name": "ann"}, "flag": true}"#,
        r#"{"user": {"role": "admin", "name": "bo"}}"#,
    ];
    // One engine for everything (state left by earlier evaluations) and a fresh clone per rule.
    let mut reused = template.clone();
    for &(rule, first, second) in PLAN_EXPECTED {
        for (input, expected) in inputs.iter().zip([first, second]) {
            for engine in [&mut reused, &mut template.clone()] {
                engine.set_input(Value::from_json_str(input)?);
                let got = engine.eval_rule(format!("data.p.{rule}"))?;
                match expected {
                    None => assert_eq!(got, Value::Undefined, "{rule} on {input}"),
                    Some(json) => assert_eq!(
                        as_json(&got)?,
                        serde_json::from_str::<serde_json::Value>(json)?,
                        "{rule} on {input}"
                    ),
                }
            }
        }
    }
    Ok(())
}

// One data path read through several references (`SlotValues`), inside and outside `with`.
const SLOT_POLICY: &str = r#"
package s
import rego.v1

base := input.n * 2

a := base + 1

b := [base, base, data.s.base, a]

under_with := [x, y, base] if {
    x := base with input.n as 10
    y := data.s.base with input.n as 20
}

# `base` is read twice (its slot filled) before the `with`s.
after := [base, base, under_with, base, b]
"#;

#[test]
fn slot_values_are_per_evaluation_and_set_aside_under_with() -> Result<()> {
    let mut engine = super::strict_engine(&[("s.rego", SLOT_POLICY)])?;
    // OPA v1.20's answers; the same engine evaluates both inputs in turn, twice.
    let expected = [
        (1, "[2, 2, [20, 40, 2], 2, [2, 2, 2, 3]]"),
        (5, "[10, 10, [20, 40, 10], 10, [10, 10, 10, 11]]"),
    ];
    for _ in 0..2 {
        for (n, json) in expected {
            engine.set_input(Value::from_json_str(&format!(r#"{{"n": {n}}}"#))?);
            assert_eq!(
                engine.eval_rule("data.s.after".to_string())?,
                Value::from_json_str(json)?,
                "n = {n}"
            );
        }
    }
    Ok(())
}
