//! Persona cases files (`cases.yaml`): inputs and the decisions they must produce. The bundle
//! tests, the CLI (`regent bundle test`), the agent and e2e all run the same files.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::Evaluator;

/// A cases file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasesFile {
    pub persona: String,
    pub cases: Vec<Case>,
}

/// One input and the decision it must produce.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub input: Value,
    pub expect: Expect,
}

/// The expected decision: `allow`, the exact set of reason codes, the exact obligations
/// (order-insensitive).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub allow: bool,
    pub reasons: Vec<String>,
    #[serde(default)]
    pub obligations: Vec<Value>,
}

#[derive(Debug, Error)]
pub enum CasesError {
    #[error("cannot read `{path}`: {detail}")]
    Read { path: String, detail: String },
    #[error("`{path}`: invalid cases file: {detail}")]
    Parse { path: String, detail: String },
}

/// The name of the cases file in a persona folder.
pub const CASES_FILE: &str = "cases.yaml";

/// Loads a cases file.
pub fn load(path: &Path) -> Result<CasesFile, CasesError> {
    let bytes = std::fs::read(path).map_err(|e| CasesError::Read {
        path: path.display().to_string(),
        detail: e.to_string(),
    })?;
    yaml_serde::from_slice(&bytes).map_err(|e| CasesError::Parse {
        path: path.display().to_string(),
        detail: e.to_string(),
    })
}

/// How one case went.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub name: String,
    pub decision: Value,
    /// Empty when the decision matched; otherwise what differed.
    pub mismatches: Vec<String>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Compares `decision` against `expect`, listing every difference.
pub fn compare(decision: &Value, expect: &Expect) -> Vec<String> {
    let mut mismatches = Vec::new();
    if decision["allow"] != Value::Bool(expect.allow) {
        mismatches.push(format!(
            "allow: expected {}, got {}",
            expect.allow, decision["allow"]
        ));
    }
    let got: BTreeSet<&str> = decision["reasons"]
        .as_array()
        .map(|r| r.iter().filter_map(|r| r["code"].as_str()).collect())
        .unwrap_or_default();
    let want: BTreeSet<&str> = expect.reasons.iter().map(String::as_str).collect();
    if got != want {
        mismatches.push(format!("reasons: expected {want:?}, got {got:?}"));
    }
    let canon = |v: &Value| v.to_string();
    let got: BTreeSet<String> = decision["obligations"]
        .as_array()
        .map(|o| o.iter().map(canon).collect())
        .unwrap_or_default();
    let want: BTreeSet<String> = expect.obligations.iter().map(canon).collect();
    if got != want {
        mismatches.push(format!("obligations: expected {want:?}, got {got:?}"));
    }
    mismatches
}

/// Runs every case through `evaluator`.
pub fn run(evaluator: &Evaluator, file: &CasesFile) -> Vec<CaseResult> {
    file.cases
        .iter()
        .map(|case| {
            let decision = evaluator.decide(&case.input);
            CaseResult {
                name: case.name.clone(),
                mismatches: compare(&decision, &case.expect),
                decision,
            }
        })
        .collect()
}
