// Regent patch tests (round 3): function outcomes recorded per evaluation (`CallMemo`) give the
// values and side effects that evaluating every call gives.

// Test code: assertions are the point.
#![allow(clippy::panic_in_result_fn, clippy::indexing_slicing)]

use crate::*;
use alloc::sync::Arc;
use anyhow::Result;
use core::sync::atomic::{AtomicUsize, Ordering};

const LIB: &str = r#"
package lib
import rego.v1

double(v) := v * 2
from_input(v) := input.k + v
from_data(v) := data.cfg.base + v
positive(v) if v > 0
default fallback(_) := "default"
fallback(v) := "body" if v > 0
noisy(v) := v if print("noisy", v)
"#;

const POLICY: &str = r#"
package p
import rego.v1
import data.lib

repeated := [lib.double(2), lib.double(2), lib.double(3), data.lib.double(2)]
undefined_twice := [v | some v in [-1, 2, -1, 3]; lib.positive(v)]
fallback_twice := [lib.fallback(-1), lib.fallback(-1), lib.fallback(1), lib.fallback(-1)]
with_input := [a, b, c] if {
    a := lib.from_input(1)
    b := lib.from_input(1) with input.k as 100
    c := lib.from_input(1)
}
with_input_first := [b, c] if {
    b := lib.from_input(1) with input.k as 100
    c := lib.from_input(1)
}
with_data := [a, b, c] if {
    a := lib.from_data(1)
    b := lib.from_data(1) with data.cfg.base as 50
    c := lib.from_data(1)
}
single := lib.from_input(1)
noisy_twice := [lib.noisy(1), lib.noisy(1)]
"#;

const DATA: &str = r#"{"cfg": {"base": 5}}"#;

fn new_engine(extra: &[&str]) -> Result<Engine> {
    let mut modules = vec![
        ("lib.rego".to_string(), LIB),
        ("p.rego".to_string(), POLICY),
    ];
    modules.extend(
        (0..)
            .zip(extra)
            .map(|(i, policy)| (format!("extra{i}.rego"), *policy)),
    );
    let mut engine = super::strict_engine(&modules)?;
    engine.add_data(Value::from_json_str(DATA)?)?;
    Ok(engine)
}

fn eval(engine: &mut Engine, input: &str, rule: &str) -> Result<Value> {
    engine.set_input(Value::from_json_str(input)?);
    engine.eval_rule(format!("data.p.{rule}"))
}

#[test]
fn repeated_calls_give_the_values_of_fresh_calls() -> Result<()> {
    let mut engine = new_engine(&[])?;
    let input = r#"{"k": 10}"#;
    let expect = [
        ("repeated", "[4, 4, 6, 4]"),
        ("undefined_twice", "[2, 3]"),
        // An undefined body falls back to the default at every call, the repeated ones included.
        (
            "fallback_twice",
            r#"["default", "default", "body", "default"]"#,
        ),
        ("with_input", "[11, 101, 11]"),
        ("with_input_first", "[101, 11]"),
        ("with_data", "[6, 51, 6]"),
    ];
    for (rule, json) in expect {
        assert_eq!(
            eval(&mut engine, input, rule)?,
            Value::from_json_str(json)?,
            "{rule}"
        );
    }
    Ok(())
}

#[test]
fn like_named_functions_of_two_packages_keep_their_own_outcomes() -> Result<()> {
    let mut engine = new_engine(&[
        r#"
package a
import rego.v1
f(v) := v + 1
r := f(1)
"#,
        r#"
package b
import rego.v1
f(v) := v + 2
r := f(1)
both := [data.a.r, r, data.a.f(1), f(1)]
"#,
    ])?;
    engine.set_input(Value::new_object());
    assert_eq!(
        engine.eval_rule("data.b.both".to_string())?,
        Value::from_json_str("[2, 3, 2, 3]")?
    );
    Ok(())
}

#[test]
fn outcomes_do_not_outlive_their_evaluation() -> Result<()> {
    // The same engine (not a clone) evaluates twice with different input.
    let mut engine = new_engine(&[])?;
    assert_eq!(
        eval(&mut engine, r#"{"k": 10}"#, "single")?,
        Value::from(11)
    );
    assert_eq!(
        eval(&mut engine, r#"{"k": 20}"#, "single")?,
        Value::from(21)
    );
    Ok(())
}

#[test]
fn calls_with_side_effects_are_evaluated_every_time() -> Result<()> {
    let mut engine = new_engine(&[])?;
    engine.set_gather_prints(true);
    assert_eq!(
        eval(&mut engine, "{}", "noisy_twice")?,
        Value::from_json_str("[1, 1]")?
    );
    assert_eq!(engine.take_prints()?.len(), 2);

    // An extension may have effects of its own: a function that calls one is called again.
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let mut with_extension = new_engine(&[r#"
package q
import rego.v1
counted(v) := ext_count(v)
twice := [counted(1), counted(1)]
"#])?;
    with_extension.add_extension(
        "ext_count".to_string(),
        1,
        Box::new(move |params: Vec<Value>| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(params[0].clone())
        }),
    )?;
    with_extension.set_input(Value::new_object());
    assert_eq!(
        with_extension.eval_rule("data.q.twice".to_string())?,
        Value::from_json_str("[1, 1]")?
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    Ok(())
}
