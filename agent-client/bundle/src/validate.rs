//! Validation with regorus: compile every module honouring its rego version, run the `test_*`
//! rules with `opa test` semantics, and check the decision entrypoint is fail-closed.

use std::time::{Duration, Instant};

use regorus::unstable::{Rule, RuleHead};
use regorus::{Engine, Value};
use thiserror::Error;

use crate::bundle::Bundle;
use crate::manifest::RegoVersion;
use crate::path;

/// Why a bundle failed validation.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValidateError {
    #[error("`{path}` line {line}: {message}")]
    Compile {
        path: String,
        line: u32,
        message: String,
        /// regorus' full diagnostic, with the source excerpt.
        detail: String,
    },
    #[error(
        "`{path}`: manifest roots {roots:?} do not permit package `{package}`; add a root or rename the package"
    )]
    PackageOutsideRoots {
        path: String,
        package: String,
        roots: Vec<String>,
    },
    #[error("cannot load bundle data: {detail}")]
    Data { detail: String },
    #[error(
        "no decision entrypoint: set `entrypoint` in regent.yaml (manifest `metadata.regent.entrypoint`)"
    )]
    NoEntrypoint,
    #[error("entrypoint `{entrypoint}` is not a valid rule path: {detail}")]
    InvalidEntrypoint { entrypoint: String, detail: String },
    #[error("entrypoint `{entrypoint}`: no rule `{rule}` in package `{package}`")]
    EntrypointMissing {
        entrypoint: String,
        package: String,
        rule: String,
    },
    #[error(
        "entrypoint `{entrypoint}` has no `default {rule}`; add one that denies, so an undefined decision fails closed"
    )]
    EntrypointNoDefault { entrypoint: String, rule: String },
    #[error("entrypoint `{entrypoint}` allows an empty input (got {got}); its default must deny")]
    EntrypointNotFailClosed { entrypoint: String, got: String },
    #[error("entrypoint `{entrypoint}` failed on an empty input: {detail}")]
    EntrypointError { entrypoint: String, detail: String },
    #[error("{failed} of {total} policy tests failed: {names}")]
    TestsFailed {
        failed: usize,
        total: usize,
        names: String,
    },
}

/// A module's package and rule names, read from the regorus AST.
#[derive(Debug, Clone)]
struct ModuleRules {
    path: String,
    package: String,
    rules: Vec<String>,
    defaults: Vec<String>,
}

/// A compiled bundle: a regorus engine holding every module and the data.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub engine: Engine,
    modules: Vec<ModuleRules>,
}

/// Compiles every module of `bundle` (v0 or v1 per the manifest) and loads its data.
pub fn compile(bundle: &Bundle) -> Result<Compiled, ValidateError> {
    let mut engine = Engine::new();
    let roots = bundle.manifest.effective_roots();
    for module in &bundle.modules {
        engine.set_rego_v0(module.rego_version == RegoVersion::V0);
        let package = engine
            .add_policy(module.path.clone(), module.source.clone())
            .map_err(|e| compile_error(&module.path, &e.to_string()))?;
        let package_path = package.strip_prefix("data.").unwrap_or(&package);
        if !bundle
            .manifest
            .permits(&package_path.split('.').collect::<Vec<_>>())
        {
            return Err(ValidateError::PackageOutsideRoots {
                path: module.path.clone(),
                package: package_path.to_owned(),
                roots,
            });
        }
    }
    let data = Value::from_json_str(&bundle.data.to_string()).map_err(|e| ValidateError::Data {
        detail: e.to_string(),
    })?;
    engine.add_data(data).map_err(|e| ValidateError::Data {
        detail: e.to_string(),
    })?;
    // Evaluating once prepares the engine (rule index, schedules); clones made afterwards
    // share that work instead of each paying it on their first evaluation.
    engine
        .eval_query("true".into(), false)
        .map_err(|e| ValidateError::Data {
            detail: format!("cannot prepare the policy: {e}"),
        })?;
    let modules = engine
        .get_modules()
        .iter()
        .map(|m| {
            let mut rules = Vec::new();
            let mut defaults = Vec::new();
            for rule in &m.policy {
                match rule.as_ref() {
                    Rule::Spec { head, .. } => {
                        let refr = match head {
                            RuleHead::Compr { refr, .. }
                            | RuleHead::Set { refr, .. }
                            | RuleHead::Func { refr, .. } => refr,
                        };
                        rules.push(refr.span().text().to_owned());
                    }
                    Rule::Default { refr, .. } => defaults.push(refr.span().text().to_owned()),
                }
            }
            ModuleRules {
                path: m.package.span.source.file().to_string(),
                package: m.package.refr.span().text().to_owned(),
                rules,
                defaults,
            }
        })
        .collect();
    Ok(Compiled { engine, modules })
}

/// Turns regorus' diagnostic (`--> file:line:col`, a source excerpt, `error: msg`) into a
/// typed error.
fn compile_error(path: &str, diagnostic: &str) -> ValidateError {
    let line = diagnostic
        .lines()
        .find_map(|l| l.trim().strip_prefix("-->"))
        .and_then(|at| at.trim().rsplit(':').nth(1))
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let message = diagnostic
        .lines()
        .find_map(|l| l.trim().strip_prefix("error:"))
        .unwrap_or(diagnostic.trim())
        .trim()
        .to_owned();
    ValidateError::Compile {
        path: path.to_owned(),
        line,
        message,
        detail: diagnostic.trim().to_owned(),
    }
}

/// The outcome of one `test_*` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestStatus {
    Pass,
    /// Evaluated to something other than `true` (undefined or false), as `opa test` reports.
    Fail {
        got: String,
    },
    /// Evaluation raised an error.
    Error {
        message: String,
    },
}

/// One test's result, named as `opa test` does: file and `data.<package>.<rule>`.
#[derive(Debug, Clone)]
pub struct TestResult {
    pub file: String,
    pub package: String,
    pub name: String,
    pub status: TestStatus,
    pub duration: Duration,
}

impl TestResult {
    pub fn passed(&self) -> bool {
        self.status == TestStatus::Pass
    }

    /// `data.<package>.<rule>`.
    pub fn rule_path(&self) -> String {
        format!("data.{}.{}", self.package, self.name)
    }
}

/// All test results of a bundle.
#[derive(Debug, Clone, Default)]
pub struct TestReport {
    pub results: Vec<TestResult>,
}

impl TestReport {
    pub fn failed(&self) -> impl Iterator<Item = &TestResult> {
        self.results.iter().filter(|r| !r.passed())
    }

    /// `Err` naming every failing test, when any failed.
    pub fn into_result(self) -> Result<TestReport, ValidateError> {
        let failed: Vec<String> = self
            .failed()
            .map(|r| format!("`{}` ({})", r.rule_path(), r.file))
            .collect();
        if failed.is_empty() {
            Ok(self)
        } else {
            Err(ValidateError::TestsFailed {
                failed: failed.len(),
                total: self.results.len(),
                names: failed.join(", "),
            })
        }
    }
}

impl Compiled {
    /// Runs every `test_*` rule (rules prefixed `todo_test_` are skipped, as in `opa test`).
    /// A test passes when it evaluates to `true`.
    pub fn run_tests(&self) -> TestReport {
        let mut results = Vec::new();
        for module in &self.modules {
            let mut seen = std::collections::BTreeSet::new();
            for name in &module.rules {
                if !name.starts_with("test_") || name.contains('.') || !seen.insert(name) {
                    continue;
                }
                let rule = format!("data.{}.{name}", module.package);
                let mut engine = self.engine.clone();
                let started = Instant::now();
                let status = match engine.eval_rule(rule) {
                    Ok(Value::Bool(true)) => TestStatus::Pass,
                    Ok(Value::Undefined) => TestStatus::Fail {
                        got: "undefined".into(),
                    },
                    Ok(other) => TestStatus::Fail {
                        got: other.to_json_str().unwrap_or_else(|_| format!("{other:?}")),
                    },
                    Err(e) => TestStatus::Error {
                        message: e.to_string(),
                    },
                };
                results.push(TestResult {
                    file: module.path.clone(),
                    package: module.package.clone(),
                    name: name.clone(),
                    status,
                    duration: started.elapsed(),
                });
            }
        }
        TestReport { results }
    }

    /// Checks the decision entrypoint (`a/b/rule`) exists, has a `default`, and denies an
    /// empty input.
    pub fn check_entrypoint(&self, entrypoint: &str) -> Result<(), ValidateError> {
        let segments = path::segments(entrypoint);
        let Some((rule, package)) = segments.split_last() else {
            return Err(ValidateError::InvalidEntrypoint {
                entrypoint: entrypoint.to_owned(),
                detail: "it is empty".into(),
            });
        };
        let package = package.join(".");
        let in_package: Vec<&ModuleRules> = self
            .modules
            .iter()
            .filter(|m| m.package == package)
            .collect();
        let declares = |m: &&ModuleRules| m.rules.iter().chain(&m.defaults).any(|r| r == rule);
        if !in_package.iter().any(declares) {
            return Err(ValidateError::EntrypointMissing {
                entrypoint: entrypoint.to_owned(),
                package,
                rule: (*rule).to_owned(),
            });
        }
        if !in_package
            .iter()
            .any(|m| m.defaults.iter().any(|r| r == rule))
        {
            return Err(ValidateError::EntrypointNoDefault {
                entrypoint: entrypoint.to_owned(),
                rule: (*rule).to_owned(),
            });
        }
        let mut engine = self.engine.clone();
        engine.set_input(Value::new_object());
        let value = engine
            .eval_rule(format!("data.{package}.{rule}"))
            .map_err(|e| ValidateError::EntrypointError {
                entrypoint: entrypoint.to_owned(),
                detail: e.to_string(),
            })?;
        if allows(&value) {
            return Err(ValidateError::EntrypointNotFailClosed {
                entrypoint: entrypoint.to_owned(),
                got: value.to_json_str().unwrap_or_default(),
            });
        }
        Ok(())
    }
}

/// Whether a decision value allows: `true`, or an object whose `allow` is `true`.
pub fn allows(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Object(_) => matches!(value["allow"], Value::Bool(true)),
        _ => false,
    }
}

/// What [`validate`] found.
#[derive(Debug, Clone)]
pub struct ValidationReport {
    pub tests: TestReport,
    pub entrypoint: Option<String>,
    pub modules: usize,
}

/// Compiles `bundle`, runs its tests and checks its entrypoint (`entrypoint` overrides the
/// manifest's). Failing tests are an error naming each one.
pub fn validate(
    bundle: &Bundle,
    entrypoint: Option<&str>,
) -> Result<ValidationReport, ValidateError> {
    let compiled = compile(bundle)?;
    let entrypoint = entrypoint.or(bundle.manifest.entrypoint());
    if entrypoint.is_none() && bundle.manifest.persona().is_some() {
        return Err(ValidateError::NoEntrypoint);
    }
    if let Some(entrypoint) = entrypoint {
        compiled.check_entrypoint(entrypoint)?;
    }
    let tests = compiled.run_tests().into_result()?;
    Ok(ValidationReport {
        tests,
        entrypoint: entrypoint.map(str::to_owned),
        modules: bundle.modules.len(),
    })
}
