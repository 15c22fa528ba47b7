//! What a persona's decisions cost in the regorus interpreter, case by case and rule by rule, and (with the
//! `rvm` feature) whether regorus' bytecode VM agrees with the interpreter. See `bundles/README.md` ("Cost").
//!
//! ```text
//! cargo run --release -p regent-bundle --example policy_cost -- hr-bot
//!     [--iters 20] [--case <name part>] [--verbose] [--rule data.regent.lib.core.deny ...]
//! cargo run --release -p regent-bundle --example policy_cost --features rvm -- hr-bot --vm [--mutate 3000]
//!     [--inputs more.json]
//! ```
//!
//! The bundle is `bundles/<persona>` (or `$REGENT_BUNDLES/<persona>`) built like the control plane builds it,
//! without its `*_test.rego` modules; each evaluation clones the warmed engine, sets the case's input and
//! evaluates one rule, as the agent does. The VM comparison runs on every case, `--mutate N` seeded mutations
//! of them (keys dropped, values replaced by other types or plausible strings) and `--inputs` (a JSON array).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::PathBuf;
use std::time::Instant;

use regent_bundle::{BuildOptions, Bundle, Limits, build_dir, cases, validate};
use regorus::{Engine, Value};

/// The agent sidecar's allocator (`agent-client/src/bin/regent-agent.rs`), so that the costs measured here
/// are the sidecar's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DECISION: &str = "data.regent.persona.decision";

struct Args {
    persona: String,
    iters: usize,
    case: Option<String>,
    verbose: bool,
    rules: Vec<String>,
    vm: bool,
    mutate: usize,
    inputs: Option<PathBuf>,
    dump: Option<PathBuf>,
}

fn args() -> Args {
    let mut args = Args {
        persona: String::new(),
        iters: 20,
        case: None,
        verbose: false,
        rules: Vec::new(),
        vm: false,
        mutate: 0,
        inputs: None,
        dump: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--iters" => args.iters = it.next().and_then(|s| s.parse().ok()).expect("--iters N"),
            "--case" => args.case = it.next(),
            "--verbose" => args.verbose = true,
            "--rule" => args.rules.push(it.next().expect("--rule PATH")),
            "--vm" => args.vm = true,
            "--inputs" => args.inputs = it.next().map(PathBuf::from),
            "--dump" => args.dump = it.next().map(PathBuf::from),
            "--mutate" => args.mutate = it.next().and_then(|s| s.parse().ok()).expect("--mutate N"),
            persona if !persona.starts_with("--") && args.persona.is_empty() => {
                args.persona = persona.to_owned();
            }
            other => panic!("unknown argument `{other}`"),
        }
    }
    assert!(
        !args.persona.is_empty(),
        "usage: policy_cost <persona> [options]"
    );
    if args.rules.is_empty() {
        args.rules.push(DECISION.to_owned());
    }
    args
}

fn main() {
    let args = args();
    let root = std::env::var_os("REGENT_BUNDLES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bundles"),
        PathBuf::from,
    );
    let dir = root.join(&args.persona);
    let built = build_dir(&dir, &BuildOptions::default()).unwrap();
    let with_tests = Bundle::from_files(built.files.clone(), &Limits::DEFAULT).unwrap();
    let files = built
        .files
        .into_iter()
        .filter(|f| !f.path.ends_with("_test.rego"))
        .collect();
    let bundle = Bundle::from_files(files, &Limits::DEFAULT).unwrap();
    let mut template = validate::compile(&bundle).unwrap().engine;
    let file = cases::load(&dir.join(cases::CASES_FILE)).unwrap();
    let inputs: Vec<(String, Value)> = file
        .cases
        .iter()
        .filter(|c| args.case.as_ref().is_none_or(|part| c.name.contains(part)))
        .map(|c| (c.name.clone(), to_value(&c.input)))
        .collect();
    assert!(!inputs.is_empty(), "no case matches");
    // Warm the template once, as the agent does before cloning it per decision.
    template.set_input(inputs[0].1.clone());
    let _ = template.eval_rule(DECISION.to_owned());
    template.set_input(Value::new_object());

    if let Some(dir) = &args.dump {
        let seeds: Vec<serde_json::Value> = file.cases.iter().map(|c| c.input.clone()).collect();
        let mut all = seeds.clone();
        all.extend(mutations(&seeds, args.mutate));
        dump(dir, &args.persona, &template, &with_tests, &all);
        return;
    }
    if args.vm {
        let seeds: Vec<serde_json::Value> = file.cases.iter().map(|c| c.input.clone()).collect();
        let mut extra = mutations(&seeds, args.mutate);
        if let Some(path) = &args.inputs {
            let list: Vec<serde_json::Value> =
                serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            extra.extend(list);
        }
        vm(&args, &template, &bundle, &inputs, &extra);
        return;
    }
    for rule in &args.rules {
        let mut per_case: Vec<(f64, &str)> = inputs
            .iter()
            .map(|(name, input)| {
                let started = Instant::now();
                for _ in 0..args.iters {
                    let mut engine = template.clone();
                    engine.set_input(input.clone());
                    std::hint::black_box(engine.eval_rule(rule.clone()).ok());
                }
                (
                    started.elapsed().as_secs_f64() * 1e6 / args.iters as f64,
                    name.as_str(),
                )
            })
            .collect();
        per_case.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mean = per_case.iter().map(|(us, _)| us).sum::<f64>() / per_case.len() as f64;
        println!(
            "{} {rule}: mean {mean:.1} µs over {} cases; slowest {:.1} µs ({})",
            args.persona,
            per_case.len(),
            per_case[0].0,
            per_case[0].1
        );
        if args.verbose {
            for (us, name) in &per_case {
                println!("  {us:9.1} µs  {name}");
            }
        }
    }
}

/// Writes `<dir>/<persona>.bundle.json` (the bundle's modules, tests included, and data, for
/// `scripts/opa-diff.py`) and
/// `<dir>/<persona>.decisions.json` (every input with the interpreter's decision, or its error).
fn dump(
    dir: &std::path::Path,
    persona: &str,
    template: &Engine,
    bundle: &Bundle,
    inputs: &[serde_json::Value],
) {
    std::fs::create_dir_all(dir).unwrap();
    let modules: Vec<(String, String)> = bundle
        .modules
        .iter()
        .map(|m| (m.path.clone(), m.source.clone()))
        .collect();
    let exported = serde_json::json!({"modules": modules, "data": bundle.data});
    std::fs::write(
        dir.join(format!("{persona}.bundle.json")),
        serde_json::to_vec(&exported).unwrap(),
    )
    .unwrap();
    let decisions: Vec<serde_json::Value> = inputs
        .iter()
        .map(|input| {
            let mut engine = template.clone();
            engine.set_input(to_value(input));
            let decision = match engine.eval_rule(DECISION.to_owned()) {
                Ok(Value::Undefined) => serde_json::json!({"undefined": true}),
                Ok(v) => serde_json::from_str(&v.to_json_str().unwrap()).unwrap(),
                Err(e) => serde_json::json!({"error": e.to_string()}),
            };
            serde_json::json!({"input": input, "decision": decision})
        })
        .collect();
    std::fs::write(
        dir.join(format!("{persona}.decisions.json")),
        serde_json::to_vec(&decisions).unwrap(),
    )
    .unwrap();
    println!(
        "{persona}: {} decisions written to {}",
        decisions.len(),
        dir.display()
    );
}

fn to_value(json: &serde_json::Value) -> Value {
    Value::from_json_str(&json.to_string()).unwrap()
}

/// `n` inputs, each a case input with one to three random edits: a key dropped, or a value (anywhere in the
/// tree) replaced by one of a few values of other types or plausible strings. Seeded: the same every run.
fn mutations(seeds: &[serde_json::Value], n: usize) -> Vec<serde_json::Value> {
    use serde_json::{Value as J, json};
    let replacements = [
        J::Null,
        json!(0),
        json!(7),
        json!(-1),
        json!(1.5),
        json!(""),
        json!("x"),
        json!("prod"),
        json!("staging"),
        json!("u-1001"),
        json!("e-42"),
        json!([]),
        json!(["x"]),
        json!({}),
        json!({"a": 1}),
        json!(true),
        json!("2026-02-30T10:00:00Z"),
        json!("2026-11-24t10:15:00z"),
        json!("2026-11-28T10:15:00Z"),
        json!("SELECT 1; DROP TABLE t"),
        json!("main"),
        json!("hr_admin"),
        json!("state_change"),
    ];
    fn paths(v: &J, prefix: &mut Vec<J>, out: &mut Vec<Vec<J>>) {
        let children: Vec<(J, &J)> = match v {
            J::Object(map) => map.iter().map(|(k, x)| (J::from(k.as_str()), x)).collect(),
            J::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, x)| (J::from(i), x))
                .collect(),
            _ => Vec::new(),
        };
        for (key, child) in children {
            prefix.push(key);
            out.push(prefix.clone());
            paths(child, prefix, out);
            prefix.pop();
        }
    }
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    (0..n)
        .map(|_| {
            let mut input = seeds[next(seeds.len())].clone();
            for _ in 0..=next(3) {
                let mut all = Vec::new();
                paths(&input, &mut Vec::new(), &mut all);
                if all.is_empty() {
                    break;
                }
                let path = &all[next(all.len())];
                let (last, parents) = path.split_last().unwrap();
                let mut parent = &mut input;
                for key in parents {
                    parent = match key {
                        J::String(k) => parent.get_mut(k.as_str()).unwrap(),
                        _ => parent.get_mut(key.as_u64().unwrap() as usize).unwrap(),
                    };
                }
                let value = replacements[next(replacements.len())].clone();
                match (parent, last) {
                    (J::Object(map), J::String(k)) if next(100) < 35 => {
                        map.remove(k.as_str());
                    }
                    (J::Object(map), J::String(k)) => {
                        map.insert(k.clone(), value);
                    }
                    (J::Array(items), index) => {
                        items[index.as_u64().unwrap() as usize] = value;
                    }
                    _ => {}
                }
            }
            input
        })
        .collect()
}

#[cfg(not(feature = "rvm"))]
fn vm(_: &Args, _: &Engine, _: &Bundle, _: &[(String, Value)], _: &[serde_json::Value]) {
    panic!("--vm needs `--features rvm`");
}

/// Compiles the decision to the VM, compares it with the interpreter on every case and extra input, and
/// times it on the cases.
#[cfg(feature = "rvm")]
fn vm(
    args: &Args,
    template: &Engine,
    bundle: &Bundle,
    cases: &[(String, Value)],
    extra: &[serde_json::Value],
) {
    use regorus::languages::rego::compiler::Compiler;
    use regorus::rvm::vm::RegoVM;

    let started = Instant::now();
    let compiled = template
        .clone()
        .compile_with_entrypoint(&regorus::Rc::from(DECISION))
        .unwrap();
    let program = Compiler::compile_from_policy(&compiled, &[DECISION]).unwrap();
    println!(
        "VM program: {} instructions, compiled in {:?}",
        program.instructions.len(),
        started.elapsed()
    );
    let mut vm = RegoVM::new();
    vm.load_program(program);
    vm.set_data(to_value(&bundle.data)).unwrap();
    vm.set_max_instructions(10_000_000);
    vm.set_strict_builtin_errors(true);

    let extra: Vec<(String, Value)> = extra
        .iter()
        .enumerate()
        .map(|(i, input)| (format!("input #{i}"), to_value(input)))
        .collect();
    let (mut same, mut differ, mut fail_open) = (0, 0, 0);
    for (name, input) in cases.iter().chain(&extra) {
        let mut engine = template.clone();
        engine.set_input(input.clone());
        let want = engine
            .eval_rule(DECISION.to_owned())
            .map_err(|e| e.to_string());
        vm.set_input(input.clone());
        let got = vm
            .execute_entry_point_by_name(DECISION)
            .map_err(|e| e.to_string());
        if want == got {
            same += 1;
            continue;
        }
        differ += 1;
        let allows =
            |r: &Result<Value, String>| r.as_ref().is_ok_and(|v| v["allow"] == Value::from(true));
        if allows(&got) && !allows(&want) {
            fail_open += 1;
        }
        if differ <= 5 || args.verbose {
            let show = |r: &Result<Value, String>| match r {
                Ok(v) => serde_json::to_string(v).unwrap(),
                Err(e) => format!("error: {e}"),
            };
            println!(
                "DIFF {name}\n  interpreter {}\n  vm          {}\n  input       {}",
                show(&want),
                show(&got),
                serde_json::to_string(input).unwrap()
            );
        }
    }
    println!(
        "VM vs interpreter: {same} same, {differ} differ ({fail_open} allowed by the VM only), of {}",
        same + differ
    );
    let started = Instant::now();
    for (_, input) in cases {
        for _ in 0..args.iters {
            vm.set_input(input.clone());
            std::hint::black_box(vm.execute_entry_point_by_name(DECISION).ok());
        }
    }
    println!(
        "VM: mean {:.1} µs per decision over {} cases",
        started.elapsed().as_secs_f64() * 1e6 / (args.iters * cases.len()) as f64,
        cases.len()
    );
}
