//! The decision a persona policy returns (schema `bundles/schema/decision.v1.json`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A policy decision: allow or not, why, and what the agent must do if it goes ahead.
///
/// `reasons` and `obligations` default to empty when absent and are always serialised. Unknown keys are rejected, so
/// a policy typo (`obligation`) fails closed instead of silently dropping an obligation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionV1 {
    /// Whether the action may go ahead (subject to `obligations`).
    pub allow: bool,
    /// Why; a deny should carry at least one reason.
    #[serde(default)]
    pub reasons: Vec<ReasonV1>,
    /// What the agent must do when it acts, e.g. redact fields or obtain an approval.
    #[serde(default)]
    pub obligations: Vec<ObligationV1>,
}

/// Why a decision came out as it did.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonV1 {
    /// Machine-readable, stable, e.g. `salary_requires_hr_admin`; see [`reason_code`] for the agent's own.
    pub code: String,
    /// For humans (auditors, the agent's user).
    pub message: String,
}

/// Something the agent must do when it acts, e.g. `{"kind":"redact","fields":["salary"]}`.
///
/// `kind` selects the meaning; every other key is a parameter. Known kinds, whose parameters are checked:
/// - [`ObligationV1::REDACT`]: `fields` (array of strings, required);
/// - [`ObligationV1::REQUIRE_APPROVAL`]: `action` (string: what needs approving, by convention the tool name),
///   `approvers` (array of user ids allowed to approve), `approver_role` (string) — all optional; none means anyone
///   but the requester may approve. This is the shape `bundles/lib/approvals.rego` emits.
///
/// Other kinds (e.g. `notify`, `limit_results`) pass through unchecked. An agent that meets a kind it does not
/// know must not act.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObligationV1 {
    /// e.g. `redact`. Must not be empty.
    pub kind: String,
    /// The other keys of the obligation. Must not contain `kind`.
    #[serde(flatten)]
    pub params: Map<String, Value>,
}

/// Reason codes the agent client uses when it decides without (or despite) the policy. Policy-authored codes should
/// not start with `regent.`.
pub mod reason_code {
    /// No policy bundle has been activated yet.
    pub const NO_POLICY: &str = "regent.no_policy";
    /// The input did not validate against `agent-action.v1`.
    pub const INVALID_INPUT: &str = "regent.invalid_input";
    /// The policy's decision was undefined (undefined is not allow).
    pub const UNDEFINED: &str = "regent.undefined";
    /// Evaluation failed (e.g. a built-in error or a conflict).
    pub const EVALUATION_ERROR: &str = "regent.evaluation_error";
    /// Evaluation took longer than its time limit.
    pub const EVALUATION_TIMEOUT: &str = "regent.evaluation_timeout";
    /// The policy returned something that is not a valid `decision.v1`.
    pub const INVALID_DECISION: &str = "regent.invalid_decision";
}

/// Why a decision document was rejected. Each message names the field.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecisionError {
    /// Not JSON, `allow` missing or not a boolean, a malformed reason, or an unknown key.
    #[error("decision does not match decision.v1: {0}")]
    Malformed(serde_json::Error),
    /// An obligation's `kind` is empty.
    #[error("obligations[{index}].kind must not be empty")]
    EmptyObligationKind {
        /// Position in `obligations`.
        index: usize,
    },
    /// An obligation's parameters contain `kind` (only possible when built in Rust).
    #[error("obligations[{index}] has `kind` among its parameters; set the kind field instead")]
    KindInParams {
        /// Position in `obligations`.
        index: usize,
    },
    /// A known obligation kind lacks a required parameter or has one of the wrong type.
    #[error("obligations[{index}].{param} must be {expected} when kind is `{kind}`")]
    BadParam {
        /// Position in `obligations`.
        index: usize,
        /// The obligation kind.
        kind: &'static str,
        /// The parameter.
        param: &'static str,
        /// What it must be.
        expected: &'static str,
    },
}

impl DecisionV1 {
    /// Allow, with no reasons or obligations.
    pub fn allow() -> Self {
        Self {
            allow: true,
            reasons: Vec::new(),
            obligations: Vec::new(),
        }
    }

    /// Deny with one reason: what the agent returns when it fails closed, e.g.
    /// `DecisionV1::deny(reason_code::UNDEFINED, "policy hr-bot returned no decision")`.
    pub fn deny(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            allow: false,
            reasons: vec![ReasonV1::new(code, message)],
            obligations: Vec::new(),
        }
    }

    /// Adds a reason.
    pub fn with_reason(mut self, reason: ReasonV1) -> Self {
        self.reasons.push(reason);
        self
    }

    /// Adds an obligation.
    pub fn with_obligation(mut self, obligation: ObligationV1) -> Self {
        self.obligations.push(obligation);
        self
    }

    /// Parses and [validates](Self::validate) a JSON document.
    pub fn from_json(json: &[u8]) -> Result<Self, DecisionError> {
        let decision: Self = serde_json::from_slice(json).map_err(DecisionError::Malformed)?;
        decision.validate()?;
        Ok(decision)
    }

    /// Parses and [validates](Self::validate) a JSON value, e.g. a policy's result.
    pub fn from_value(value: Value) -> Result<Self, DecisionError> {
        let decision: Self = serde_json::from_value(value).map_err(DecisionError::Malformed)?;
        decision.validate()?;
        Ok(decision)
    }

    /// Checks what the schema requires of obligations beyond the shape serde enforces.
    pub fn validate(&self) -> Result<(), DecisionError> {
        for (index, obligation) in self.obligations.iter().enumerate() {
            obligation.check(index)?;
        }
        Ok(())
    }
}

impl ReasonV1 {
    /// A reason.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl ObligationV1 {
    /// Remove `fields` from what the agent returns or stores.
    pub const REDACT: &str = "redact";
    /// Obtain an approval from someone with `approver_role` before acting.
    pub const REQUIRE_APPROVAL: &str = "require_approval";

    /// An obligation of `kind` with no parameters.
    pub fn new(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            params: Map::new(),
        }
    }

    /// `{"kind":"redact","fields":[…]}`.
    pub fn redact<F: Into<String>>(fields: impl IntoIterator<Item = F>) -> Self {
        let fields: Vec<Value> = fields
            .into_iter()
            .map(|f| Value::String(f.into()))
            .collect();
        Self::new(Self::REDACT).with_param("fields", fields)
    }

    /// `{"kind":"require_approval","action":…}`; add `approvers` or `approver_role` with [`Self::with_param`].
    pub fn require_approval(action: impl Into<String>) -> Self {
        Self::new(Self::REQUIRE_APPROVAL).with_param("action", action.into())
    }

    /// Adds a parameter.
    pub fn with_param(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.params.insert(key.into(), value.into());
        self
    }

    fn check(&self, index: usize) -> Result<(), DecisionError> {
        if self.kind.is_empty() {
            return Err(DecisionError::EmptyObligationKind { index });
        }
        if self.params.contains_key("kind") {
            return Err(DecisionError::KindInParams { index });
        }
        match self.kind.as_str() {
            Self::REDACT => self.param(index, Self::REDACT, "fields", Required::Yes, Type::Strings),
            Self::REQUIRE_APPROVAL => {
                let kind = Self::REQUIRE_APPROVAL;
                self.param(index, kind, "action", Required::No, Type::String)?;
                self.param(index, kind, "approvers", Required::No, Type::Strings)?;
                self.param(index, kind, "approver_role", Required::No, Type::String)
            }
            _ => Ok(()),
        }
    }

    fn param(
        &self,
        index: usize,
        kind: &'static str,
        param: &'static str,
        required: Required,
        expected: Type,
    ) -> Result<(), DecisionError> {
        let ok = match (self.params.get(param), expected) {
            (None, _) => required == Required::No,
            (Some(Value::String(_)), Type::String) => true,
            (Some(Value::Array(items)), Type::Strings) => items.iter().all(Value::is_string),
            (Some(_), _) => false,
        };
        if ok {
            return Ok(());
        }
        Err(DecisionError::BadParam {
            index,
            kind,
            param,
            expected: match expected {
                Type::String => "a string",
                Type::Strings => "an array of strings",
            },
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Required {
    Yes,
    No,
}

#[derive(Clone, Copy)]
enum Type {
    String,
    Strings,
}
