// Regent patch tests (round 4): the loop-variable table grown on first write, and the package
// components shared between modules.

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
    let mut engine = Engine::new();
    engine.set_strict_builtin_errors(true);
    engine.add_policy("first.rego".to_string(), FIRST.to_string())?;
    engine.add_policy("second.rego".to_string(), SECOND.to_string())?;
    Ok(engine)
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
