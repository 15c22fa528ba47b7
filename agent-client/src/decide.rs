//! The hot path: evaluate a snapshot's entrypoint on one input, fail closed on anything but a valid decision.
//!
//! No lock is taken here. The snapshot comes from an `ArcSwap` load; the engine is a clone of the snapshot's
//! prepared and warmed template. A clone shares the compiled policy (regorus `arc`), so it costs about as much
//! as reusing a per-thread clone (measured in `BENCHMARKS.md`: no difference within noise); cloning per call is
//! the default because it pins no old snapshot in idle threads. [`EngineReuse::PerThread`] keeps a
//! thread-local clone per persona keyed by snapshot generation instead.

use std::cell::RefCell;

use regent_protocol::{DecisionV1, ObligationV1, ReasonV1, reason_code};
use regorus::{Engine, LimitError};
use serde::Deserialize as _;
use serde_json::Value as Json;
use uuid::Uuid;

use crate::snapshot::Snapshot;

/// The answer to one `decide` call.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub allow: bool,
    pub reasons: Vec<ReasonV1>,
    pub obligations: Vec<ObligationV1>,
    /// The persona whose policy decided.
    pub persona: String,
    /// The `.manifest` revision that decided; `None` when no policy was active.
    pub revision: Option<String>,
    /// Its sequence.
    pub sequence: Option<u64>,
    /// Unique per decision (UUID v7); the decision-log event carries the same id.
    pub decision_id: Uuid,
}

impl Decision {
    /// The decision document (`decision.v1`).
    pub fn to_v1(&self) -> DecisionV1 {
        DecisionV1 {
            allow: self.allow,
            reasons: self.reasons.clone(),
            obligations: self.obligations.clone(),
        }
    }

    /// Whether the agent decided without (or despite) the policy: the first reason is a `regent.*` code.
    pub fn is_fail_closed(&self) -> bool {
        !self.allow
            && self
                .reasons
                .first()
                .is_some_and(|r| r.code.starts_with("regent."))
    }
}

/// What evaluation produced, before it becomes a [`Decision`].
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A valid decision; `result` is the policy's raw output (logged as the event's `result`).
    Decided { decision: DecisionV1, result: Json },
    /// Fail closed: deny with `code`; `result` is the raw output when there was one (an invalid decision).
    Denied {
        code: &'static str,
        message: String,
        result: Option<Json>,
    },
}

impl Outcome {
    pub(crate) fn deny(code: &'static str, message: impl Into<String>) -> Self {
        Outcome::Denied {
            code,
            message: message.into(),
            result: None,
        }
    }
}

struct CachedEngine {
    slot: u64,
    generation: u64,
    engine: Engine,
}

thread_local! {
    /// One engine per persona slot this thread has decided for, tagged with the snapshot generation it was
    /// cloned from. A swap changes the generation, so the next call re-clones; an idle thread keeps the old
    /// clone (and through it the old compiled policy) until it decides again.
    static ENGINES: RefCell<Vec<CachedEngine>> = const { RefCell::new(Vec::new()) };
}

/// How a thread gets an engine for a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EngineReuse {
    /// Keep a per-thread clone per persona, re-cloned after each swap.
    PerThread,
    /// Clone the template for every call (default).
    #[default]
    PerCall,
}

/// Evaluates `snapshot`'s entrypoint for `input`.
pub(crate) fn evaluate(
    slot: u64,
    snapshot: &Snapshot,
    input: regorus::Value,
    reuse: EngineReuse,
) -> Outcome {
    let raw = match reuse {
        EngineReuse::PerCall => {
            let mut engine = snapshot.engine.clone();
            run(&mut engine, &snapshot.rule, input)
        }
        EngineReuse::PerThread => ENGINES.with(|cell| match cell.try_borrow_mut() {
            Ok(mut engines) => {
                let engine = thread_engine(&mut engines, slot, snapshot);
                run(engine, &snapshot.rule, input)
            }
            // Re-entrant call (an extension deciding inside a decision): use a private clone.
            Err(_) => run(&mut snapshot.engine.clone(), &snapshot.rule, input),
        }),
    };
    interpret(raw, &snapshot.rule)
}

fn thread_engine<'a>(
    engines: &'a mut Vec<CachedEngine>,
    slot: u64,
    snapshot: &Snapshot,
) -> &'a mut Engine {
    let index = match engines.iter().position(|e| e.slot == slot) {
        Some(i) => {
            if engines[i].generation != snapshot.generation {
                engines[i].engine = snapshot.engine.clone();
                engines[i].generation = snapshot.generation;
            }
            i
        }
        None => {
            engines.push(CachedEngine {
                slot,
                generation: snapshot.generation,
                engine: snapshot.engine.clone(),
            });
            engines.len() - 1
        }
    };
    &mut engines[index].engine
}

fn run(engine: &mut Engine, rule: &str, input: regorus::Value) -> anyhow::Result<regorus::Value> {
    engine.set_input(input);
    let result = engine.eval_rule(rule.to_owned());
    // Do not keep the caller's input alive in the cached engine.
    engine.set_input(regorus::Value::Null);
    result
}

/// Maps the evaluation result to a decision: undefined, an error, a timeout or a malformed document all deny.
fn interpret(raw: anyhow::Result<regorus::Value>, rule: &str) -> Outcome {
    let value = match raw {
        Ok(regorus::Value::Undefined) => {
            return Outcome::deny(
                reason_code::UNDEFINED,
                format!("`{rule}` is undefined for this input; undefined is not allow"),
            );
        }
        Ok(value) => value,
        Err(error) if is_timeout(&error) => {
            return Outcome::deny(
                reason_code::EVALUATION_TIMEOUT,
                format!("evaluating `{rule}` exceeded its time limit: {error}"),
            );
        }
        Err(error) => {
            return Outcome::deny(
                reason_code::EVALUATION_ERROR,
                format!("evaluating `{rule}` failed: {error}"),
            );
        }
    };
    let result = match serde_json::to_value(&value) {
        Ok(json) => json,
        Err(e) => {
            return Outcome::deny(
                reason_code::INVALID_DECISION,
                format!("the decision of `{rule}` is not JSON: {e}"),
            );
        }
    };
    let parsed = DecisionV1::deserialize(&result)
        .map_err(|e| e.to_string())
        .and_then(|d| d.validate().map(|()| d).map_err(|e| e.to_string()));
    match parsed {
        Ok(decision) => Outcome::Decided { decision, result },
        Err(detail) => Outcome::Denied {
            code: reason_code::INVALID_DECISION,
            message: format!("the decision of `{rule}` is not a valid decision.v1: {detail}"),
            result: Some(result),
        },
    }
}

fn is_timeout(error: &anyhow::Error) -> bool {
    error.chain().any(|e| {
        matches!(
            e.downcast_ref::<LimitError>(),
            Some(LimitError::TimeLimitExceeded { .. })
        )
    }) || error.to_string().contains("exceeded time limit")
}

/// Converts a JSON input for the engine without cloning it.
pub(crate) fn to_engine_value(input: &Json) -> Result<regorus::Value, String> {
    regorus::Value::deserialize(input).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_and_errors_deny_with_their_codes() {
        let code = |raw| match interpret(raw, "data.x.d") {
            Outcome::Denied { code, .. } => code,
            Outcome::Decided { .. } => "allowed",
        };
        assert_eq!(code(Ok(regorus::Value::Undefined)), reason_code::UNDEFINED);
        assert_eq!(
            code(Err(anyhow::anyhow!("boom"))),
            reason_code::EVALUATION_ERROR
        );
        assert_eq!(
            code(Err(anyhow::anyhow!(
                "execution exceeded time limit (elapsed=2ns, limit=1ns)"
            ))),
            reason_code::EVALUATION_TIMEOUT
        );
        assert_eq!(
            code(Ok(regorus::Value::from(true))),
            reason_code::INVALID_DECISION
        );
    }
}
