//! What one rule definition costs in the agent's interpreter, by shape: `n` definitions of one partial
//! set that all fail (`fail`), that all add an element (`ok`), or `n` complete rules read by one rule
//! (`complete`). Each evaluation clones the warmed engine and evaluates `data.p.d`, as the agent does.
//! Count instructions per definition with callgrind (see `agent-client/regorus/PATCHES.md`, round 5):
//!
//! ```text
//! cargo build --release -p regent-bundle --example rule_shapes
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null --collect-atstart=no \
//!     '--toggle-collect=*Engine::eval_rule*' target/release/examples/rule_shapes ok 100 3
//! ```
//!
//! (instructions of `... 3` minus those of `... 1`) ÷ 2 ÷ `n` = instructions per definition.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use regorus::{Engine, Value};

/// The agent sidecar's allocator, as in `policy_cost`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: rule_shapes fail|ok|complete <definitions> <evaluations>";
    let shape = args.next().expect(usage);
    let n: usize = args.next().and_then(|s| s.parse().ok()).expect(usage);
    let iters: usize = args.next().and_then(|s| s.parse().ok()).expect(usage);
    let mut src = String::from("package p\nimport rego.v1\n");
    for i in 0..n {
        let rule = match shape.as_str() {
            "fail" => format!("d contains \"x{i}\" if input.a == 1\n"),
            "ok" => format!("d contains \"x{i}\" if input.a == 2\n"),
            "complete" => format!("r{i} if input.a == 2\n"),
            _ => panic!("{usage}"),
        };
        src.push_str(&rule);
    }
    if shape == "complete" {
        let reads: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
        src.push_str(&format!("d := [{}]\n", reads.join(", ")));
    }
    let mut engine = Engine::new();
    engine.add_policy("p.rego".into(), src).unwrap();
    engine.set_input(Value::from_json_str(r#"{"a": 2}"#).unwrap());
    // Warm-up: prepares the policy (not counted per definition).
    engine.eval_rule("data.p.d".into()).unwrap();
    for _ in 0..iters {
        let mut evaluation = engine.clone();
        let value = evaluation.eval_rule("data.p.d".into()).unwrap();
        std::hint::black_box(value);
    }
}
