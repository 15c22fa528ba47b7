//! TEMPORARY profiler (not to be committed): per-rule evaluation cost on a persona's cases.
//! usage: prof <persona> [iters] [rule ...]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::time::Instant;

use regent_bundle::{Bundle, BuildOptions, Limits, build_dir, cases, validate};
use regorus::Value;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let persona = args.get(1).cloned().unwrap_or_else(|| "hr-bot".into());
    let iters: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20);
    let mut rules: Vec<String> = args.iter().skip(3).cloned().collect();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bundles").join(&persona);
    let built = build_dir(&dir, &BuildOptions::default()).unwrap();
    let files = built
        .files
        .into_iter()
        .filter(|f| !f.path.ends_with("_test.rego"))
        .collect();
    let bundle = Bundle::from_files(files, &Limits::DEFAULT).unwrap();
    let compiled = validate::compile(&bundle).unwrap();
    let mut template = compiled.engine;
    let file = cases::load(&dir.join(cases::CASES_FILE)).unwrap();
    let inputs: Vec<(String, Value)> = file
        .cases
        .iter()
        .map(|c| (c.name.clone(), Value::from_json_str(&c.input.to_string()).unwrap()))
        .collect();
    // warm
    template.set_input(inputs[0].1.clone());
    let _ = template.eval_rule("data.regent.persona.decision".into());
    template.set_input(Value::new_object());
    if rules.is_empty() {
        rules = vec!["data.regent.persona.decision".into()];
    }
    let only = std::env::var("CASE").ok();
    let mode_vm = std::env::var("VM").is_ok();
    let _ = mode_vm;
    for rule in &rules {
        let mut total = 0.0;
        let mut per_case = vec![];
        for (name, input) in &inputs {
            if let Some(o) = &only
                && !name.contains(o.as_str())
            {
                continue;
            }
            let t = Instant::now();
            for _ in 0..iters {
                let mut e = template.clone();
                e.set_input(input.clone());
                if let Some(q) = rule.strip_prefix("q:") {
                    let r = e.eval_query(q.to_owned(), false);
                    if std::env::var("SHOWERR").is_ok() && r.is_err() { println!("{r:?}"); }
                    std::hint::black_box(r.ok());
                } else {
                    let r = e.eval_rule(rule.clone());
                    if std::env::var("SHOWERR").is_ok() && r.is_err() { println!("{r:?}"); }
                    std::hint::black_box(r.ok());
                }
            }
            let us = t.elapsed().as_secs_f64() * 1e6 / iters as f64;
            total += us;
            per_case.push((us, name.clone()));
        }
        per_case.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
        println!(
            "{persona} {rule}: mean {:.1} us over {} cases; max {:.1} ({}), min {:.1}",
            total / per_case.len() as f64,
            per_case.len(),
            per_case[0].0,
            per_case[0].1,
            per_case.last().unwrap().0
        );
        if std::env::var("VERBOSE").is_ok() {
            for (us, n) in &per_case {
                println!("   {us:8.1}  {n}");
            }
        }
    }
}
