// Copyright (c) Microsoft Corporation.
// Licensed under the MIT License.

#![allow(
    clippy::arithmetic_side_effects,
    clippy::shadow_unrelated,
    clippy::pattern_type_mismatch,
    clippy::as_conversions
)] // small arithmetic checks are intentional

pub mod limits;

use crate::ast::*;
use crate::builtins::*;
use crate::lexer::SourceStr;
use crate::parser::Parser;
use crate::*;

use anyhow::{bail, Result};
#[derive(Clone, Debug)]
pub(crate) enum PathComponent {
    String(String),
    Raw(String),
}

impl PathComponent {
    pub(crate) fn value(&self) -> &str {
        match self {
            Self::String(value) | Self::Raw(value) => value,
        }
    }
}

pub(crate) fn is_identifier_component(component: &str) -> bool {
    let mut bytes = component.bytes();
    matches!(bytes.next(), Some(first) if first.is_ascii_alphabetic() || first == b'_')
        && bytes.all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
}

pub(crate) fn append_path_component(path: &str, component: &str) -> Result<String> {
    let mut path = path.to_string();
    append_path_component_to(&mut path, component)?;
    Ok(path)
}

fn append_path_component_to(path: &mut String, component: &str) -> Result<()> {
    if is_identifier_component(component) {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(component);
    } else {
        let literal = Value::from(component).to_json_str()?;
        path.push('[');
        path.push_str(&literal);
        path.push(']');
    }
    Ok(())
}

fn append_raw_path_component_to(path: &mut String, component: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(component);
}

pub(crate) fn append_path_value_component(path: &str, component: &Value) -> Result<String> {
    match component {
        Value::String(value) => append_path_component(path, value.as_ref()),
        value => {
            if path.is_empty() {
                Ok(value.to_string())
            } else {
                Ok(format!("{path}.{value}"))
            }
        }
    }
}

/// Regent patch: `root` with every field appended (as `append_path_component`), and the byte
/// length of the path after 0, 1, ... fields: `&path[..ends[i]]` is `root` with the first `i`
/// fields appended, because appending a component never changes what precedes it.
pub(crate) fn prefix_paths(root: &str, fields: &[&str]) -> Result<(String, Vec<usize>)> {
    let mut path = String::with_capacity(root.len() + fields.len() * 16);
    path.push_str(root);
    let mut ends = Vec::with_capacity(fields.len() + 1);
    ends.push(path.len());
    for field in fields {
        append_path_component_to(&mut path, field)?;
        ends.push(path.len());
    }
    Ok((path, ends))
}

pub(crate) fn format_path_components(components: &[PathComponent]) -> Result<String> {
    let mut path = String::new();
    for component in components {
        match component {
            PathComponent::String(value) => append_path_component_to(&mut path, value)?,
            PathComponent::Raw(value) => append_raw_path_component_to(&mut path, value),
        }
    }
    Ok(path)
}

pub(crate) fn format_string_path(components: &[&str]) -> Result<String> {
    let mut path = String::new();
    for component in components {
        append_path_component_to(&mut path, component)?;
    }
    Ok(path)
}

pub(crate) fn split_canonical_path_root(path: &str) -> Option<(&str, &str)> {
    let root_end = path.find(['.', '[']).unwrap_or(path.len());
    if root_end == 0 {
        return None;
    }
    Some(path.split_at(root_end))
}

pub(crate) fn get_rule_path_components(refr: &Expr) -> Result<Vec<PathComponent>> {
    fn collect(refr: &Expr, components: &mut Vec<PathComponent>) -> Result<()> {
        match refr {
            Expr::Var { span, .. } => {
                components.push(PathComponent::String(span.text().to_string()));
            }
            Expr::RefDot { refr, field, .. } => {
                collect(refr, components)?;
                components.push(PathComponent::String(field.0.text().to_string()));
            }
            Expr::RefBrack { refr, index, .. } => {
                collect(refr, components)?;
                match index.as_ref() {
                    Expr::String { value, .. } => components.push(PathComponent::String(
                        value.as_string()?.as_ref().to_string(),
                    )),
                    Expr::Number { span, .. }
                    | Expr::Bool { span, .. }
                    | Expr::Null { span, .. } => {
                        components.push(PathComponent::Raw(span.text().to_string()));
                    }
                    _ => {
                        let index_components = Parser::get_path_ref_components(index)?;
                        components.extend(
                            index_components
                                .iter()
                                .map(|component| PathComponent::Raw(component.text().to_string())),
                        );
                    }
                }
            }
            _ => bail!("internal error: not a simple ref {refr:?}"),
        }
        Ok(())
    }

    let mut components = Vec::new();
    collect(refr, &mut components)?;
    Ok(components)
}

pub fn get_path_string(refr: &Expr, document: Option<&str>) -> Result<String> {
    // Regent patch: append the components in place. Upstream collected them into a
    // `Vec<PathComponent>` of owned strings and then rebuilt the path with one new `String`
    // per component; the output and the errors are the same.
    fn append_simple(refr: &Expr, path: &mut String) -> Result<()> {
        match refr {
            Expr::Var { span, .. } => append_path_component_to(path, span.text()),
            Expr::RefDot { refr, field, .. } => {
                append_simple(refr, path)?;
                append_path_component_to(path, field.0.text())
            }
            Expr::RefBrack { refr, index, .. } => {
                append_simple(refr, path)?;
                if let Expr::String { value, .. } = index.as_ref() {
                    append_path_component_to(path, value.as_string()?.as_ref())?;
                }
                Ok(())
            }
            _ => bail!("internal error: not a simple ref {refr:?}"),
        }
    }

    let mut path = String::with_capacity(64);
    path.push_str(document.unwrap_or_default());
    append_simple(refr, &mut path)?;
    Ok(path)
}

pub type FunctionTable = crate::PathMap<String, (Vec<Ref<Rule>>, u8, Ref<Module>)>;

/// Regent patch: the arity `get_extra_arg` compares a call's parameters with (`None`: no
/// function or built-in of that name), split out so that it can be computed once per call site.
pub(crate) fn call_arity(
    fcn: &Expr,
    module: Option<&str>,
    functions: &FunctionTable,
) -> Result<Option<u8>> {
    let full_path = get_path_string(fcn, module)?;
    if let Some((_, n_args, _)) = functions.get(&full_path) {
        return Ok(Some(*n_args));
    }
    let path = get_path_string(fcn, None)?;
    if let Some((_, n_args, _)) = functions.get(&path) {
        Ok(Some(*n_args))
    } else if let Some((_, n_args)) = BUILTINS.get(path.as_str()) {
        Ok(Some(*n_args))
    } else {
        Ok(None)
    }
}

fn get_extra_arg_impl(
    expr: &Expr,
    module: Option<&str>,
    functions: &FunctionTable,
) -> Result<Option<Ref<Expr>>> {
    if let Expr::Call { fcn, params, .. } = expr {
        let Some(n_args) = call_arity(fcn, module, functions)? else {
            return Ok(None);
        };
        return Ok(output_arg(n_args, params));
    }
    Ok(None)
}

/// Regent patch: the output argument of a call with `params` to a function or built-in of arity
/// `n_args` — its last parameter, when it has one more than the arity.
pub(crate) fn output_arg(n_args: u8, params: &[Ref<Expr>]) -> Option<Ref<Expr>> {
    if usize::from(n_args) + 1 == params.len() {
        params.last().cloned()
    } else {
        None
    }
}

pub fn get_extra_arg(
    expr: &Expr,
    module: Option<&str>,
    functions: &FunctionTable,
) -> Option<Ref<Expr>> {
    get_extra_arg_impl(expr, module, functions).unwrap_or_default()
}

pub fn gather_functions(modules: &[Ref<Module>]) -> Result<FunctionTable> {
    let mut table = FunctionTable::default();

    for module in modules {
        let module_path = get_path_string(&module.package.refr, Some("data"))?;
        for rule in &module.policy {
            if let Rule::Spec {
                span,
                head: RuleHead::Func { refr, args, .. },
                ..
            } = rule.as_ref()
            {
                let full_path = get_path_string(refr, Some(module_path.as_str()))?;

                if let Some((functions, arity, _)) = table.get_mut(&full_path) {
                    if args.len() as u8 != *arity {
                        bail!(span.error(
                            format!("{full_path} was previously defined with {arity} arguments.")
                                .as_str()
                        ));
                    }
                    functions.push(rule.clone());
                } else {
                    table.insert(
                        full_path,
                        (vec![rule.clone()], args.len() as u8, module.clone()),
                    );
                }
            }
        }
    }
    Ok(table)
}

pub fn get_root_var(mut expr: &Expr) -> Result<SourceStr> {
    let empty = expr.span().source_str().clone_empty();
    loop {
        match expr {
            Expr::Var { span: v, .. } => return Ok(v.source_str()),
            Expr::RefDot { refr, .. } | Expr::RefBrack { refr, .. } => expr = refr,
            _ => return Ok(empty),
        }
    }
}

/// Regent patch: the variable at the root of `name.f1["f2"]...` (or of `name` alone) and the
/// components after it, when every component is static (`.field` or `["string"]`, as
/// `Interpreter::eval_chained_ref_dot_or_brack` collects them); `None` for any other expression.
pub(crate) fn static_ref_chain(expr: &Expr) -> Option<(&Expr, Vec<&str>)> {
    let mut components = Vec::new();
    let mut node = expr;
    loop {
        match node {
            Expr::Var { .. } => {
                components.reverse();
                return Some((node, components));
            }
            Expr::RefDot { refr, field, .. } => {
                components.push(field.0.text());
                node = refr.as_ref();
            }
            Expr::RefBrack { refr, index, .. } => match index.as_ref() {
                Expr::String { value, .. } => {
                    components.push(value.as_string().ok()?.as_ref());
                    node = refr.as_ref();
                }
                _ => return None,
            },
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{append_path_component, format_string_path, prefix_paths, PathHasher};
    use alloc::format;
    use anyhow::Result;
    use core::hash::Hasher as _;

    /// The remaining 1 to 7 bytes are hashed as their zero-padded little-endian word, tagged with
    /// their count, as when the word was copied into a byte array.
    #[test]
    #[allow(clippy::indexing_slicing)] // test code: the slices are in range
    fn path_hasher_hashes_the_tail_as_its_little_endian_word() {
        let bytes: alloc::vec::Vec<u8> = (1..=23_u8).map(|b| b.wrapping_mul(37)).collect();
        for len in 0..=bytes.len() {
            let input = &bytes[..len];
            let mut hasher = PathHasher::default();
            hasher.write(input);
            let mut reference = PathHasher::default();
            let mut chunks = input.chunks_exact(8);
            for chunk in &mut chunks {
                let mut word = [0_u8; 8];
                word.copy_from_slice(chunk);
                reference.add(u64::from_le_bytes(word));
            }
            let rest = chunks.remainder();
            if !rest.is_empty() {
                let mut word = [0_u8; 8];
                word[..rest.len()].copy_from_slice(rest);
                reference.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
            }
            assert_eq!(hasher.finish(), reference.finish(), "{len} bytes");
        }
    }

    #[test]
    fn path_component_formatting_matches_rego_identifier_grammar() -> Result<()> {
        let cases = [
            ("ordinary_name_9", "data.ordinary_name_9"),
            ("if", "data.if"),
            ("9ordinary", r#"data["9ordinary"]"#),
            ("with-hyphen", r#"data["with-hyphen"]"#),
            ("a.b", r#"data["a.b"]"#),
            (r#"escaped".dot"#, r#"data["escaped\".dot"]"#),
            ("", r#"data[""]"#),
            ("éclair", r#"data["éclair"]"#),
        ];

        for (component, expected) in cases {
            let actual = append_path_component("data", component)?;
            if actual != expected {
                return Err(anyhow::Error::msg(format!(
                    "expected {expected}, got {actual}"
                )));
            }
        }

        Ok(())
    }

    #[test]
    #[allow(clippy::indexing_slicing)] // test code: an out-of-range prefix should panic here
    fn prefix_paths_are_the_paths_of_each_prefix() -> Result<()> {
        let fields = ["a", "with-hyphen", "9x", "b_c", "", "é"];
        let (path, ends) = prefix_paths("data", &fields)?;
        for i in 0..=fields.len() {
            let mut components = alloc::vec!["data"];
            components.extend_from_slice(&fields[..i]);
            let expected = format_string_path(&components)?;
            if path[..ends[i]] != expected {
                return Err(anyhow::Error::msg(format!(
                    "{i}: {} != {expected}",
                    &path[..ends[i]]
                )));
            }
            let mut appended = alloc::string::String::from("data.p");
            for field in &fields[..i] {
                appended = append_path_component(&appended, field)?;
            }
            let (path, ends) = prefix_paths("data.p", &fields)?;
            if path[..ends[i]] != appended {
                return Err(anyhow::Error::msg(format!(
                    "{i}: {} != {appended}",
                    &path[..ends[i]]
                )));
            }
        }
        Ok(())
    }
}

/// Regent patch: the hasher of [`crate::PathMap`] (FxHash: rotate, xor a word, multiply). Not keyed,
/// so only for tables whose keys come from the policy, never from input.
#[derive(Debug, Default, Clone, Copy)]
pub struct PathHasher {
    hash: u64,
}

/// Regent patch: builds [`PathHasher`]s.
pub type PathHashBuilder = core::hash::BuildHasherDefault<PathHasher>;

impl PathHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    #[inline]
    const fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl core::hash::Hasher for PathHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0_u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // The little-endian word of the 1 to 7 remaining bytes, zero-padded, assembled in
            // registers (a `copy_from_slice` of a variable length is a `memcpy` call).
            let word = rest
                .iter()
                .rev()
                .fold(0_u64, |word, byte| (word << 8) | u64::from(*byte));
            self.add(word ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}
