//! Evaluating a bundle's decision entrypoint: the reference path used by validation, the CLI
//! and the cases files. Fail closed: undefined or an error is a deny with a reason.

use std::num::NonZeroU32;
use std::time::Duration;

use regorus::Value;
use regorus::utils::limits::ExecutionTimerConfig;
use serde_json::json;
use thiserror::Error;

use crate::bundle::Bundle;
use crate::validate::{self, Compiled, ValidateError};

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EvalError {
    #[error(transparent)]
    Validate(#[from] ValidateError),
    #[error("input is not valid: {detail}")]
    Input { detail: String },
}

/// A compiled bundle ready to answer decisions on its entrypoint.
#[derive(Debug, Clone)]
pub struct Evaluator {
    compiled: Compiled,
    rule: String,
}

/// Evaluation time limit per decision.
pub const DEFAULT_EVAL_LIMIT: Duration = Duration::from_millis(250);

impl Evaluator {
    /// Compiles `bundle` for `entrypoint` (defaults to the manifest's), with a time limit per
    /// evaluation.
    pub fn new(
        bundle: &Bundle,
        entrypoint: Option<&str>,
        limit: Duration,
    ) -> Result<Evaluator, ValidateError> {
        let mut compiled = validate::compile(bundle)?;
        let entrypoint = entrypoint
            .or(bundle.manifest.entrypoint())
            .ok_or(ValidateError::NoEntrypoint)?;
        compiled.check_entrypoint(entrypoint)?;
        compiled
            .engine
            .set_execution_timer_config(ExecutionTimerConfig {
                limit,
                check_interval: NonZeroU32::MIN,
            });
        let rule = format!("data.{}", crate::path::segments(entrypoint).join("."));
        Ok(Evaluator { compiled, rule })
    }

    /// Evaluates the entrypoint for `input`. Undefined or an evaluation error becomes a deny
    /// decision whose reason says why.
    pub fn decide(&self, input: &serde_json::Value) -> serde_json::Value {
        let mut engine = self.compiled.engine.clone();
        let input = match Value::from_json_str(&input.to_string()) {
            Ok(v) => v,
            Err(e) => return deny("invalid_input", &format!("input is not valid: {e}")),
        };
        engine.set_input(input);
        match engine.eval_rule(self.rule.clone()) {
            Ok(Value::Undefined) => deny(
                "undefined_decision",
                &format!("`{}` is undefined for this input", self.rule),
            ),
            Ok(value) => match value.to_json_str().map(|s| serde_json::from_str(&s)) {
                Ok(Ok(json)) => json,
                _ => deny("invalid_decision", "the decision could not be serialised"),
            },
            Err(e) => deny(
                "evaluation_error",
                &format!("policy evaluation failed: {e}"),
            ),
        }
    }
}

/// A fail-closed deny decision with one reason.
pub fn deny(code: &str, message: &str) -> serde_json::Value {
    json!({
        "allow": false,
        "reasons": [{"code": code, "message": message}],
        "obligations": [],
    })
}
