// Regent patch tests (round 2): import-alias lookups, call sites resolved once per prepared policy,
// the extra-argument table and the `Undefined`-key lookup give the values upstream gave.

// Test code: assertions are the point.
#![allow(clippy::panic_in_result_fn, clippy::assertions_on_result_states)]

use crate::*;
use anyhow::Result;

fn engine(policies: &[&str], data: &str) -> Result<Engine> {
    let modules: Vec<(String, &str)> = (0..)
        .zip(policies)
        .map(|(i, policy)| (format!("p{i}.rego"), *policy))
        .collect();
    let mut engine = super::strict_engine(&modules)?;
    engine.add_data(Value::from_json_str(data)?)?;
    Ok(engine)
}

fn eval(engine: &Engine, input: &str, rule: &str) -> Result<Value> {
    let mut engine = engine.clone();
    engine.set_input(Value::from_json_str(input)?);
    engine.eval_rule(rule.to_string())
}

/// Each `data.p.<rule>` evaluates to its value.
fn assert_rules<const N: usize>(
    engine: &Engine,
    input: &str,
    expect: [(&str, Value); N],
) -> Result<()> {
    for (rule, value) in expect {
        assert_eq!(
            eval(engine, input, &format!("data.p.{rule}"))?,
            value,
            "{rule}"
        );
    }
    Ok(())
}

const LIB: &str = r#"
package lib
import rego.v1

x := input.n + 1
obj := {"field": input.n, "other": 2}
s contains k if some k in ["a", "b"]
default d := "default"
d := "set" if input.set
f(v) := v * 2
g(v) := v + 100 if v > 0
g(v) := -1 if v <= 0
# Evaluating this rule is an error: only a lookup of the whole package may evaluate it.
boom := 1 / 0 if input.explode
"#;

const SUB: &str = r#"
package lib.sub
import rego.v1

y := input.n * 10
"#;

const POLICY: &str = r#"
package p
import rego.v1
import data.lib
import data.lib as l2
import data.cfg

via_alias := lib.x
via_path := data.lib.x
field_via_alias := lib.obj.field
set_member := lib.s["a"]
default_via_alias := lib.d
sub_package := lib.sub.y
renamed := l2.x
base_data := cfg.limits.max
missing := lib.nothing
call_via_alias := lib.f(input.n)
call_full := data.lib.f(input.n)
multi_body_function := [lib.g(1), lib.g(0)]
builtin_call := count(lib.obj)
mocked_function := v if {
    v := lib.f(3) with data.lib.f as 7
}
mocked_builtin := v if {
    v := count([1, 2, 3]) with count as 42
}
output_arg if {
    split("a.b", ".", parts)
    parts == ["a", "b"]
}
whole := lib
"#;

const DATA: &str = r#"{"cfg": {"limits": {"max": 5}}}"#;

#[test]
fn import_alias_lookups_equal_full_paths() -> Result<()> {
    let engine = engine(&[LIB, SUB, POLICY], DATA)?;
    let input = r#"{"n": 2}"#;
    let expect = [
        ("via_alias", Value::from(3)),
        ("via_path", Value::from(3)),
        ("field_via_alias", Value::from(2)),
        ("set_member", Value::from("a")),
        ("default_via_alias", Value::from("default")),
        ("sub_package", Value::from(20)),
        ("renamed", Value::from(3)),
        ("base_data", Value::from(5)),
        ("missing", Value::Undefined),
    ];
    assert_rules(&engine, input, expect)?;
    assert_eq!(
        eval(
            &engine,
            r#"{"n": 2, "set": true}"#,
            "data.p.default_via_alias"
        )?,
        Value::from("set")
    );
    Ok(())
}

#[test]
fn import_alias_lookup_evaluates_only_the_rule_read() -> Result<()> {
    let engine = engine(&[LIB, SUB, POLICY], DATA)?;
    let input = r#"{"n": 2, "explode": true}"#;
    // `lib.x` reads one rule (as OPA does); `boom` is never evaluated.
    assert_eq!(eval(&engine, input, "data.p.via_alias")?, Value::from(3));
    // The whole package still evaluates every rule, `boom` included.
    assert!(eval(&engine, input, "data.p.whole").is_err());
    let whole = eval(&engine, r#"{"n": 2}"#, "data.p.whole")?;
    assert_eq!(whole["x"], Value::from(3));
    assert_eq!(whole["sub"]["y"], Value::from(20));
    Ok(())
}

#[test]
fn call_sites_resolve_as_before() -> Result<()> {
    let engine = engine(&[LIB, SUB, POLICY], DATA)?;
    let input = r#"{"n": 2}"#;
    let expect = [
        ("call_via_alias", Value::from(4)),
        ("call_full", Value::from(4)),
        ("multi_body_function", Value::from_json_str("[101, -1]")?),
        ("builtin_call", Value::from(2)),
        ("mocked_function", Value::from(7)),
        ("mocked_builtin", Value::from(42)),
        ("output_arg", Value::from(true)),
    ];
    assert_rules(&engine, input, expect)?;
    Ok(())
}

#[test]
fn an_extension_is_found_before_a_builtin_of_the_same_name() -> Result<()> {
    let mut engine = engine(&[LIB, SUB, POLICY], DATA)?;
    assert_eq!(
        eval(&engine, r#"{"n": 2}"#, "data.p.builtin_call")?,
        Value::from(2)
    );
    engine.add_extension(
        "count".to_string(),
        1,
        Box::new(|_params: Vec<Value>| Ok(Value::from(99))),
    )?;
    assert_eq!(
        eval(&engine, r#"{"n": 2}"#, "data.p.builtin_call")?,
        Value::from(99)
    );
    Ok(())
}
