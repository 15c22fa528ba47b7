// Copyright (c) Microsoft Corporation.
// Licensed under the MIT License.

mod engine;
pub mod interpreter;
mod regent_round2;
mod regent_round3;
mod regent_round4;
mod regent_round5;
mod regent_round6;
mod scheduler;

/// Regent patch tests: an engine with strict built-in errors and the given modules (file name,
/// source), added in order.
fn strict_engine<N: AsRef<str>, S: AsRef<str>>(
    modules: &[(N, S)],
) -> anyhow::Result<crate::Engine> {
    let mut engine = crate::Engine::new();
    engine.set_strict_builtin_errors(true);
    for module in modules {
        engine.add_policy(module.0.as_ref().into(), module.1.as_ref().into())?;
    }
    Ok(engine)
}
