// Copyright (c) Microsoft Corporation.
// Licensed under the MIT License.
#![allow(
    clippy::redundant_pub_crate,
    clippy::missing_const_for_fn,
    clippy::option_if_let_else,
    clippy::pattern_type_mismatch
)]

use crate::ast::*;
use crate::compiler::hoist::HoistedLoopsLookup;
use crate::engine::Engine;
use crate::parser::{Parser, ParserContext};
use crate::scheduler::*;
use crate::utils::*;
use crate::*;

use alloc::collections::BTreeMap;
use anyhow::Result;

#[cfg(feature = "azure_policy")]
use crate::target::Target;

pub(crate) type DefaultRuleInfo = (Ref<Rule>, Option<crate::String>);

#[cfg(feature = "azure_policy")]
pub(crate) type ResourceTypeInfo = (Rc<str>, Rc<Schema>);

#[cfg(feature = "azure_policy")]
pub(crate) type InferredResourceTypes = BTreeMap<Ref<Query>, ResourceTypeInfo>;

/// Wrapper around CompiledPolicyData that holds an Rc reference.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    pub(crate) inner: Rc<CompiledPolicyData>,
}

impl CompiledPolicy {
    /// Create a new CompiledPolicy from CompiledPolicyData.
    pub(crate) fn new(inner: Rc<CompiledPolicyData>) -> Self {
        Self { inner }
    }

    /// Get access to the rules in the compiled policy for downstream consumers like the RVM compiler.
    pub fn get_rules(&self) -> &PathMap<String, Vec<Ref<Rule>>> {
        &self.inner.rules
    }

    /// Get access to the modules in the compiled policy.
    pub fn get_modules(&self) -> &Vec<Ref<Module>> {
        self.inner.modules.as_ref()
    }

    /// Returns true when the compiled policy should use Rego v0 semantics.
    pub fn is_rego_v0(&self) -> bool {
        !self.inner.modules.iter().any(|module| module.rego_v1)
    }
}

impl CompiledPolicy {
    /// Evaluate the compiled policy with the given input.
    ///
    /// For target policies, evaluates the target's effect rule.
    /// For regular policies, evaluates the originally compiled rule.
    ///
    /// * `input`: Input data (resource) to validate against the policy.
    ///
    /// Returns the result of evaluating the rule.
    pub fn eval_with_input(&self, input: Value) -> Result<Value> {
        let mut engine = Engine::new_from_compiled_policy(self.inner.clone());

        // Set input
        engine.set_input(input);

        // Evaluate the rule
        #[cfg(feature = "azure_policy")]
        if let Some(target_info) = self.inner.target_info.as_ref() {
            return engine.eval_rule(target_info.effect_path.to_string());
        }
        engine.eval_rule(self.inner.rule_to_evaluate.to_string())
    }

    /// Get information about the compiled policy including metadata about modules,
    /// target configuration, and resource types.
    ///
    /// Returns a [`crate::policy_info::PolicyInfo`] struct containing comprehensive
    /// information about the compiled policy such as module IDs, target name,
    /// applicable resource types, entry point rule, and parameters.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use regorus::*;
    /// # use std::sync::Arc;
    ///
    /// # fn main() -> anyhow::Result<()> {
    /// # // Register a target for the example
    /// # #[cfg(feature = "azure_policy")]
    /// # {
    /// #    let target = regorus::target::Target::from_json_file("tests/interpreter/cases/target/definitions/sample_target.json")?;
    /// #    regorus::registry::targets::register(std::sync::Arc::new(target))?;
    /// # }
    ///
    /// // Compile the policy
    /// let policy_rego = r#"
    ///     package policy.example
    ///     import rego.v1
    ///     __target__ := "target.tests.sample_test_target"
    ///     
    ///     effect := "allow" if {
    ///         input.type == "storage_account"
    ///         input.location in ["eastus", "westus"]
    ///     }
    /// "#;
    ///
    /// let modules = vec![regorus::PolicyModule {
    ///     id: "policy.rego".into(),
    ///     content: policy_rego.into(),
    /// }];
    ///
    /// #[cfg(feature = "azure_policy")]
    /// let compiled = regorus::compile_policy_for_target(Value::new_object(), &modules)?;
    /// #[cfg(not(feature = "azure_policy"))]
    /// let compiled = regorus::compile_policy_with_entrypoint(Value::new_object(), &modules, "allow".into())?;
    /// let info = compiled.get_policy_info()?;
    ///
    /// assert_eq!(info.target_name, Some("target.tests.sample_test_target".into()));
    /// assert_eq!(info.effect_rule, Some("effect".into()));
    /// assert!(info.module_ids.len() > 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_policy_info(&self) -> Result<crate::policy_info::PolicyInfo> {
        // Extract module IDs from the compiled policy
        let module_ids: Vec<Rc<str>> = self
            .inner
            .modules
            .iter()
            .enumerate()
            .map(|(i, module)| {
                // Use source file path if available, otherwise generate an ID
                let source_path = module.package.span.source.get_path();
                if source_path.is_empty() {
                    format!("module_{}", i).into()
                } else {
                    source_path.clone().into()
                }
            })
            .collect();

        // Extract target name and effect rule
        #[cfg(feature = "azure_policy")]
        let (target_name, effect_rule) = if let Some(target_info) = &self.inner.target_info {
            (
                Some(target_info.target.name.clone()),
                Some(target_info.effect_name.clone()),
            )
        } else {
            (None, None)
        };

        #[cfg(not(feature = "azure_policy"))]
        let (target_name, effect_rule) = (None, None);

        // Extract applicable resource types from inferred types
        #[cfg(feature = "azure_policy")]
        let applicable_resource_types: Vec<Rc<str>> =
            if let Some(inferred_types) = &self.inner.inferred_resource_types {
                inferred_types
                    .values()
                    .map(|(resource_type, _schema)| resource_type.clone())
                    .collect::<std::collections::BTreeSet<_>>() // Remove duplicates
                    .into_iter()
                    .collect()
            } else {
                Vec::new()
            };

        #[cfg(not(feature = "azure_policy"))]
        let applicable_resource_types: Vec<Rc<str>> = Vec::new();

        // Get parameters from the modules
        #[cfg(feature = "azure_policy")]
        let parameters = {
            // Create a new engine from the compiled modules to extract parameters
            let temp_engine = crate::engine::Engine::new_from_compiled_policy(self.inner.clone());

            temp_engine.get_policy_parameters()?
        };

        Ok(crate::policy_info::PolicyInfo {
            module_ids,
            target_name,
            applicable_resource_types,
            entrypoint_rule: self.inner.rule_to_evaluate.clone(),
            effect_rule,
            #[cfg(feature = "azure_policy")]
            parameters,
        })
    }
}

#[cfg(feature = "azure_policy")]
#[derive(Debug, Clone)]
pub(crate) struct TargetInfo {
    pub(crate) target: Rc<Target>,
    pub(crate) package: String,
    pub(crate) effect_schema: Rc<Schema>,
    pub(crate) effect_name: Rc<str>,
    pub(crate) effect_path: Rc<str>,
}

/// Regent patch: what the interpreter needs to know about a module on every rule or function
/// entry, computed once when the modules are set (upstream rebuilt the package path string and
/// its components and searched the module list linearly each time).
#[derive(Debug, Default)]
pub(crate) struct ModuleLookup {
    /// Module address -> what is known about the first module at that address.
    by_module: crate::PathMap<usize, ModuleInfo>,
    /// Rule address -> index of the first module whose policy contains the rule.
    by_rule: crate::PathMap<usize, u32>,
    /// Address of the `fcn` expression of a call -> `get_path_string(fcn, None)`, for the calls
    /// found in the modules' rules (a call not found here is resolved as before).
    call_paths: crate::PathMap<usize, Rc<str>>,
    /// The most components a module's package has (`usize::MAX` if a package's components are
    /// unknown; 0 before any module is known): see `may_name_package`.
    max_package_len: usize,
    /// Every recorded call site.
    call_sites: Vec<CallSite>,
    /// Every recorded variable reference (see `VarSite`).
    var_sites: Vec<VarSite>,
    /// (module, rule) address pairs whose rule-context path (the package's components, then the
    /// head's, as `Interpreter::make_rule_context` builds them) was built without error.
    context_paths_checked: crate::PathSet<(usize, usize)>,
    /// The module whose rules `gather_calls_in_rule` is walking (build time only).
    gathering_module: u32,
    /// Address of a rule head's ref (and, for a `p[k]` head, of `p`) -> its static paths, when
    /// the ref is a plain `a.b.c` chain and its module's package is one (see `RuleRefPaths`).
    rule_refs: crate::PathMap<usize, RuleRefPaths>,
    /// Every value and set rule of the modules has a static path (`rule_refs`, not `p[k]`) and
    /// none of these paths is a proper prefix of another: see `rule_paths_exact`.
    rule_paths_exact: bool,
}

/// Regent patch: the paths of a rule head's ref computed once per policy — what
/// `Interpreter::eval_rule_ref` returns for it (one `Value::String` per component) and the same
/// after its package's components (the path of the rule's value in `data`). The interpreter built
/// both per definition evaluated: a `String` value per component and two vectors.
#[derive(Debug)]
pub(crate) struct RuleRefPaths {
    /// Address of the module whose package `full` starts with.
    module: usize,
    pub(crate) comps: Rc<[Value]>,
    pub(crate) full: Rc<[Value]>,
}

/// Regent patch: a call in a module's rules.
#[derive(Debug)]
pub(crate) struct CallSite {
    /// The call's function expression (its address is the call's key).
    pub(crate) fcn: Ref<Expr>,
    /// Index of the module the call is in.
    pub(crate) module: u32,
    /// The call's parameters.
    pub(crate) params: Vec<Ref<Expr>>,
}

/// Regent patch: a variable read in a module's rules with the static components that follow it:
/// `name` alone, or the root of `name.f1["f2"]...` (`.field` and `["string"]` only, as
/// `Interpreter::eval_chained_ref_dot_or_brack` collects them before calling `lookup_var`).
#[derive(Debug)]
pub(crate) struct VarSite {
    /// Address of the `Var` expression.
    pub(crate) key: usize,
    /// Index of the module the reference is in.
    pub(crate) module: u32,
    pub(crate) name: Box<str>,
    pub(crate) fields: Box<[Box<str>]>,
}

/// Regent patch: a path of a `VarPlan`, shared by every plan with the same path (and its strings
/// by every path), so that the plans of a policy cost little memory.
pub(crate) type PlanPath = Rc<[Rc<str>]>;

/// Regent patch: the static part of `Interpreter::lookup_var` for one `VarSite` — everything that
/// depends only on the prepared policy (its rule, default-rule and import tables and the module's
/// package), so that a lookup at run time does only the dynamic steps: the local-variable check,
/// `is_processed`, evaluating the rule, reading `data`. Built by `Interpreter::resolve_var_plans`
/// by the same steps `lookup_var` takes; a reference without a plan is looked up as before.
#[derive(Debug)]
pub(crate) struct VarPlan {
    /// Index of the module the reference is in (checked against the current module).
    pub(crate) module: u32,
    /// The components after the variable (checked against the reference evaluated).
    pub(crate) fields: PlanPath,
    pub(crate) kind: VarPlanKind,
}

#[derive(Debug)]
pub(crate) enum VarPlanKind {
    /// `data.f1.f2...`
    Data(DataPlan),
    /// A name of the current module: a rule (or a prefix of one), or an import alias.
    Module(ModuleVarPlan),
}

/// The static steps of `lookup_var` for `data.f1.f2...`.
#[derive(Debug)]
pub(crate) struct DataPlan {
    /// `["data", f1, f2, ...]` when the path may name a package (`ensure_module_evaluated` then
    /// runs with it); `None` when no package is that long.
    pub(crate) requested_path: Option<Vec<String>>,
    /// The longest `data.f1...` prefix (not `data` itself) that has rules or default rules.
    pub(crate) ensure: Option<Rc<str>>,
    /// The slot of the data path read (`Interpreter::slot_values`).
    pub(crate) slot: usize,
}

/// The static steps of `lookup_var` for a name of the current module.
#[derive(Debug)]
pub(crate) struct ModuleVarPlan {
    /// The package's components and the name.
    pub(crate) module_var_path: PlanPath,
    /// Neither a rule, nor a default rule, nor an import: the lookup fails as unsafe.
    pub(crate) unsafe_var: bool,
    /// The longest prefix of the rule path and the fields that has rules or default rules.
    pub(crate) ensure: Option<Rc<str>>,
    /// With no such rule: the import the name is an alias of.
    pub(crate) import: Option<Box<ImportPlan>>,
    /// The slot of the data path read (the package's components, the name, the fields).
    pub(crate) slot: usize,
}

#[derive(Debug)]
pub(crate) enum ImportPlan {
    /// `alias.f1...` of `import data.a.b as alias`, looked up as `data.a.b.f1...`.
    Data {
        /// The `data` variable of the import (for the local-variable check `lookup_var` makes).
        span: crate::lexer::Span,
        all: PlanPath,
        plan: DataPlan,
    },
    /// Any other import: its expression is evaluated and the fields read from its value.
    Expr(Ref<Expr>),
}

/// Regent patch: what a call site resolves to when no `with` replaces a function, computed once per
/// prepared policy (`Interpreter::resolve_call_targets`) by the same steps `eval_call_impl` takes.
#[derive(Debug, Clone)]
pub(crate) enum CallTarget {
    /// A function of the policy: its key in the function table (a `data.` path).
    Function(Rc<str>),
    /// A built-in (used only while the engine has no extensions, which are looked up first).
    Builtin(Rc<str>, &'static crate::builtins::BuiltinFcn),
}

#[derive(Debug)]
pub(crate) struct ModuleInfo {
    /// Index in `CompiledPolicyData::modules`.
    pub(crate) index: u32,
    /// `get_path_string(package, Some("data"))`, or `None` if that failed (the interpreter then
    /// computes it on use and reports the error as before).
    pub(crate) path: Option<Rc<str>>,
    /// `Parser::get_static_string_path_components(package)`, or `None` if that failed.
    pub(crate) components: Option<Rc<[String]>>,
    /// What `Interpreter::eval_rule_ref(package)` returns (one `Value::String` per component)
    /// when the package is a plain `a.b.c` chain (no `["..."]` index, whose evaluation is left
    /// to the interpreter); `None` otherwise.
    pub(crate) package_values: Option<Rc<[Value]>>,
}

/// The components of a `Var`/`RefDot` chain as string values, outermost first; `None` for any
/// other expression. Regent patch: a component string already in `interned` (of an earlier
/// package) is that same `Rc`, so the packages' common prefixes (`data`, `regent`, ...) compare
/// equal by pointer in the rule-value and data lookups.
fn dotted_ref_values(
    mut refr: &Expr,
    interned: &mut BTreeMap<alloc::string::String, Value>,
) -> Option<Vec<Value>> {
    let mut values = Vec::new();
    loop {
        let (text, inner) = match refr {
            Expr::Var { span, .. } => (span.text(), None),
            Expr::RefDot {
                refr: inner, field, ..
            } => (field.0.text(), Some(inner)),
            _ => return None,
        };
        let value = interned
            .entry(text.into())
            .or_insert_with(|| Value::String(text.into()))
            .clone();
        values.push(value);
        match inner {
            Some(inner) => refr = inner,
            None => break,
        }
    }
    values.reverse();
    Some(values)
}

impl ModuleLookup {
    pub(crate) fn new(modules: &[Ref<Module>]) -> Self {
        let mut lookup = Self::default();
        let mut interned = BTreeMap::new();
        for (idx, module) in modules.iter().enumerate() {
            let Ok(index) = u32::try_from(idx) else {
                break;
            };
            lookup
                .by_module
                .entry(Self::module_key(module))
                .or_insert_with(|| ModuleInfo {
                    index,
                    path: get_path_string(&module.package.refr, Some("data"))
                        .ok()
                        .map(Rc::from),
                    components: Parser::get_static_string_path_components(&module.package.refr)
                        .ok()
                        .map(Rc::from),
                    package_values: dotted_ref_values(&module.package.refr, &mut interned)
                        .map(Rc::from),
                });
            let package_len = Parser::get_static_string_path_components(&module.package.refr)
                .map_or(usize::MAX, |components| components.len());
            lookup.max_package_len = lookup.max_package_len.max(package_len);
            lookup.gathering_module = index;
            let package_path = Parser::get_path_ref_components(&module.package.refr).ok();
            let package_values = lookup
                .by_module
                .get(&Self::module_key(module))
                .and_then(|info| info.package_values.clone());
            for rule in &module.policy {
                if package_path.as_deref().is_some_and(|package_path| {
                    crate::interpreter::Interpreter::rule_context_path_builds(package_path, rule)
                }) {
                    lookup
                        .context_paths_checked
                        .insert((Self::module_key(module), Self::rule_key(rule)));
                }
                lookup.by_rule.entry(Self::rule_key(rule)).or_insert(index);
                if let Some(package) = &package_values {
                    lookup.record_rule_refs(module, package, rule, &mut interned);
                }
                lookup.gather_calls_in_rule(rule);
            }
        }
        lookup.rule_paths_exact = lookup.find_rule_paths_exact(modules);
        lookup
    }

    /// Regent patch: whether `rule_paths_exact` holds for `modules` (their `rule_refs` recorded).
    fn find_rule_paths_exact(&self, modules: &[Ref<Module>]) -> bool {
        let mut paths: Vec<&[Value]> = Vec::new();
        for module in modules {
            for rule in &module.policy {
                let refr = match rule.as_ref() {
                    Rule::Spec {
                        head: RuleHead::Compr { refr, .. } | RuleHead::Set { refr, .. },
                        ..
                    } => refr,
                    _ => continue,
                };
                // A `p[k]` head has no recorded path (its key is computed per definition).
                match self.rule_ref_in(module, refr) {
                    Some(paths_of_rule) => paths.push(&paths_of_rule.full),
                    None => return false,
                }
            }
        }
        // Sorted, a path that is a proper prefix of others comes right before one of them.
        paths.sort_unstable();
        paths.dedup();
        !paths
            .windows(2)
            .any(|pair| matches!(pair, [a, b] if b.starts_with(a)))
    }

    /// Regent patch: every value and set rule of the policy has a static path and none of them
    /// is a proper prefix of another (`data.a.b` and `data.a.b.c` are not both rules). The
    /// rule values recorded during an evaluation (`Interpreter::check_rule_path`) then only
    /// ever hold such paths, so the conflict check's scan for a recorded path that is a prefix of
    /// the new one can only find the new path itself.
    pub(crate) const fn rule_paths_exact(&self) -> bool {
        self.rule_paths_exact
    }

    /// Regent patch: `rule_refs` for the head of `rule` (a value or set rule; functions and
    /// defaults take other paths), in a module whose package components are `package`.
    fn record_rule_refs(
        &mut self,
        module: &Ref<Module>,
        package: &[Value],
        rule: &Rule,
        interned: &mut BTreeMap<alloc::string::String, Value>,
    ) {
        let refr = match rule {
            Rule::Spec {
                head: RuleHead::Compr { refr, .. } | RuleHead::Set { refr, .. },
                ..
            } => refr,
            _ => return,
        };
        let mut head_refs = vec![refr];
        if let Expr::RefBrack { refr: inner, .. } = refr.as_ref() {
            head_refs.push(inner);
        }
        for head_ref in head_refs {
            let Some(comps) = dotted_ref_values(head_ref, interned) else {
                continue;
            };
            let mut full = Vec::with_capacity(package.len().saturating_add(comps.len()));
            full.extend_from_slice(package);
            full.extend_from_slice(&comps);
            self.rule_refs
                .entry(Self::expr_key(head_ref))
                .or_insert_with(|| RuleRefPaths {
                    module: Self::module_key(module),
                    comps: comps.into(),
                    full: full.into(),
                });
        }
    }

    /// Regent patch: the static paths of a rule head's ref (`rule_refs`).
    pub(crate) fn rule_ref(&self, refr: &Expr) -> Option<&RuleRefPaths> {
        self.rule_refs.get(&Self::expr_key(refr))
    }

    /// Regent patch: `rule_ref`, if its full path starts with the package of `module`.
    pub(crate) fn rule_ref_in(&self, module: &Ref<Module>, refr: &Expr) -> Option<&RuleRefPaths> {
        self.rule_ref(refr)
            .filter(|paths| paths.module == Self::module_key(module))
    }

    fn gather_calls_in_rule(&mut self, rule: &Rule) {
        match rule {
            Rule::Spec { head, bodies, .. } => {
                match head {
                    RuleHead::Compr { refr, assign, .. } => {
                        self.gather_calls(refr);
                        if let Some(assign) = assign {
                            self.gather_calls(&assign.value);
                        }
                    }
                    RuleHead::Set { refr, key, .. } => {
                        self.gather_calls(refr);
                        if let Some(key) = key {
                            self.gather_calls(key);
                        }
                    }
                    RuleHead::Func {
                        refr, args, assign, ..
                    } => {
                        self.gather_calls(refr);
                        for arg in args {
                            self.gather_calls(arg);
                        }
                        if let Some(assign) = assign {
                            self.gather_calls(&assign.value);
                        }
                    }
                }
                for body in bodies {
                    if let Some(assign) = &body.assign {
                        self.gather_calls(&assign.value);
                    }
                    self.gather_calls_in_query(&body.query);
                }
            }
            Rule::Default {
                refr, args, value, ..
            } => {
                self.gather_calls(refr);
                for arg in args {
                    self.gather_calls(arg);
                }
                self.gather_calls(value);
            }
        }
    }

    fn gather_calls_in_query(&mut self, query: &Query) {
        for stmt in &query.stmts {
            match &stmt.literal {
                Literal::SomeVars { .. } => {}
                Literal::SomeIn {
                    key,
                    value,
                    collection,
                    ..
                } => {
                    if let Some(key) = key {
                        self.gather_calls(key);
                    }
                    self.gather_calls(value);
                    self.gather_calls(collection);
                }
                Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => {
                    self.gather_calls(expr);
                }
                Literal::Every {
                    domain,
                    query: body,
                    ..
                } => {
                    self.gather_calls(domain);
                    self.gather_calls_in_query(body);
                }
            }
            for with_mod in &stmt.with_mods {
                self.gather_calls(&with_mod.refr);
                self.gather_calls(&with_mod.r#as);
            }
        }
    }

    fn gather_calls(&mut self, expr: &Expr) {
        match expr {
            Expr::Call { fcn, params, .. } => {
                if let Ok(path) = get_path_string(fcn, None) {
                    self.call_paths
                        .insert(Self::expr_key(fcn), Rc::from(path.as_str()));
                    self.call_sites.push(CallSite {
                        fcn: fcn.clone(),
                        module: self.gathering_module,
                        params: params.clone(),
                    });
                }
                self.gather_calls(fcn);
                for param in params {
                    self.gather_calls(param);
                }
            }
            Expr::Array { items, .. } | Expr::Set { items, .. } => {
                for item in items {
                    self.gather_calls(item);
                }
            }
            Expr::Object { fields, .. } => {
                for (_, key, value) in fields {
                    self.gather_calls(key);
                    self.gather_calls(value);
                }
            }
            Expr::ArrayCompr { term, query, .. } | Expr::SetCompr { term, query, .. } => {
                self.gather_calls(term);
                self.gather_calls_in_query(query);
            }
            Expr::ObjectCompr {
                key, value, query, ..
            } => {
                self.gather_calls(key);
                self.gather_calls(value);
                self.gather_calls_in_query(query);
            }
            Expr::UnaryExpr { expr, .. } => self.gather_calls(expr),
            Expr::Var { .. } => {
                self.record_var_site(expr);
            }
            Expr::RefDot { refr, .. } if !self.record_var_site(expr) => self.gather_calls(refr),
            Expr::RefBrack { refr, index, .. } if !self.record_var_site(expr) => {
                self.gather_calls(refr);
                self.gather_calls(index);
            }
            Expr::BinExpr { lhs, rhs, .. }
            | Expr::BoolExpr { lhs, rhs, .. }
            | Expr::ArithExpr { lhs, rhs, .. }
            | Expr::AssignExpr { lhs, rhs, .. } => {
                self.gather_calls(lhs);
                self.gather_calls(rhs);
            }
            Expr::Membership {
                key,
                value,
                collection,
                ..
            } => {
                if let Some(key) = key {
                    self.gather_calls(key);
                }
                self.gather_calls(value);
                self.gather_calls(collection);
            }
            // Leaves, and any other form: nothing to record (a call missed here is resolved
            // as upstream does).
            _ => {}
        }
    }

    fn expr_key(expr: &Expr) -> usize {
        core::ptr::from_ref::<Expr>(expr).addr()
    }

    /// `get_path_string(fcn, None)` of a call's function expression, if recorded.
    pub(crate) fn call_path(&self, fcn: &Expr) -> Option<&Rc<str>> {
        self.call_paths.get(&Self::expr_key(fcn))
    }

    /// Whether a `data` path with `len` components after `data` can name a package or a package
    /// prefix of one of the modules (always, while the modules are unknown). One that cannot gives
    /// `Interpreter::ensure_module_evaluated` nothing to evaluate.
    pub(crate) fn may_name_package(&self, len: usize) -> bool {
        self.max_package_len == 0 || len <= self.max_package_len
    }

    /// Whether `rule` of `module` is one whose rule-context path was checked when the lookup was
    /// built (`Interpreter::rule_context_path_builds`).
    pub(crate) fn context_path_checked(&self, module: &Ref<Module>, rule: &Ref<Rule>) -> bool {
        self.context_paths_checked
            .contains(&(Self::module_key(module), Self::rule_key(rule)))
    }

    /// Every recorded call site.
    pub(crate) fn call_sites(&self) -> &[CallSite] {
        &self.call_sites
    }

    pub(crate) fn var_sites(&self) -> &[VarSite] {
        &self.var_sites
    }

    /// Drops the recorded variable references once they are planned.
    pub(crate) fn clear_var_sites(&mut self) {
        self.var_sites = Vec::new();
    }

    /// The key of a variable reference in `CompiledPolicyData::var_plans`.
    pub(crate) fn var_key(var: &Expr) -> usize {
        Self::expr_key(var)
    }

    /// Records `expr` as a `VarSite` when it is a variable or a chain of static components on
    /// one; such a chain holds no call (its only expressions are the variable and string
    /// literals), so the caller need not walk it further.
    fn record_var_site(&mut self, expr: &Expr) -> bool {
        match static_ref_chain(expr) {
            Some((var @ Expr::Var { span, .. }, fields)) => {
                self.var_sites.push(VarSite {
                    key: Self::expr_key(var),
                    module: self.gathering_module,
                    name: span.text().into(),
                    fields: fields.into_iter().map(Box::<str>::from).collect(),
                });
                true
            }
            _ => false,
        }
    }

    /// The key of a call site in `CompiledPolicyData::call_targets`.
    pub(crate) fn call_key(fcn: &Expr) -> usize {
        Self::expr_key(fcn)
    }

    fn module_key(module: &Ref<Module>) -> usize {
        core::ptr::from_ref::<Module>(module.as_ref()).addr()
    }

    fn rule_key(rule: &Ref<Rule>) -> usize {
        core::ptr::from_ref::<Rule>(rule.as_ref()).addr()
    }

    /// What is known about a module of the policy; `None` for any other module (e.g. a query
    /// module).
    pub(crate) fn module(&self, module: &Ref<Module>) -> Option<&ModuleInfo> {
        self.by_module.get(&Self::module_key(module))
    }

    /// Index of the first module that contains `rule`.
    pub(crate) fn rule_module(&self, rule: &Ref<Rule>) -> Option<u32> {
        self.by_rule.get(&Self::rule_key(rule)).copied()
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct CompiledPolicyData {
    pub(crate) modules: Rc<Vec<Ref<Module>>>,
    /// Regent patch: see [`ModuleLookup`]; always built from `modules` (`Interpreter::set_modules`).
    pub(crate) module_lookup: Rc<ModuleLookup>,
    /// Regent patch: call site (`ModuleLookup::call_key`) -> what it resolves to; emptied whenever
    /// the modules change, filled by `Interpreter::resolve_call_targets` once the function, rule
    /// and import tables of those modules exist. A call site not found here is resolved as before.
    pub(crate) call_targets: Rc<crate::PathMap<usize, CallTarget>>,
    /// Regent patch: call site (`ModuleLookup::call_key`) -> `get_extra_arg` of the call in its
    /// module (static: the function table and the arities of built-ins); same lifetime as
    /// `call_targets`.
    pub(crate) call_extra_args: Rc<crate::PathMap<usize, Option<Ref<Expr>>>>,
    /// Regent patch: variable reference (`ModuleLookup::var_key`) -> its `VarPlan`; same lifetime
    /// as `call_targets`, filled by `Interpreter::resolve_var_plans`.
    pub(crate) var_plans: Rc<PathMap<usize, Rc<VarPlan>>>,
    pub(crate) parser_contexts: Rc<Vec<ParserContext>>,
    pub(crate) schedule: Option<Rc<Schedule>>,
    pub(crate) rules: PathMap<String, Vec<Ref<Rule>>>,
    pub(crate) default_rules: PathMap<String, Vec<DefaultRuleInfo>>,
    pub(crate) rule_path_components: PathMap<String, Vec<String>>,
    pub(crate) imports: BTreeMap<String, Ref<Expr>>,
    pub(crate) functions: FunctionTable,
    pub(crate) rule_paths: PathSet<String>,
    #[cfg(feature = "azure_policy")]
    pub(crate) target_info: Option<TargetInfo>,
    #[cfg(feature = "azure_policy")]
    pub(crate) inferred_resource_types: Option<InferredResourceTypes>,

    // User-defined rule to evaluate
    pub(crate) rule_to_evaluate: Rc<str>,

    // User-defined data
    pub(crate) data: Option<Value>,

    // Evaluation settings
    pub(crate) strict_builtin_errors: bool,

    // The semantics of extensions ought to be changes to be more Clone friendly.
    pub(crate) extensions: Map<String, (u8, Rc<Box<dyn Extension>>)>,

    // Pre-computed loop hoisting information
    pub(crate) loop_hoisting_table: HoistedLoopsLookup,
}
