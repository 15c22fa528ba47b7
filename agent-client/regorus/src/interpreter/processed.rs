// Copyright (c) Microsoft Corporation.
// Licensed under the MIT License.

//! Regent patch: the interpreter's record of which data paths have been evaluated (their rules
//! are merged into `data`) and which were replaced by a `with data...` modifier.
//!
//! Upstream kept both as a `Value` object tree (one level per path component, the "processed"
//! marker an `Undefined` key and the override marker a `true` key), so every test walked one
//! `BTreeMap` per component and every mark copied-on-write the nodes of its path. Here each
//! marked path is one entry of a hash table keyed by the hash of its components, so a test is a
//! few hash probes (one per prefix) and a mark one insertion. The answers are the tree's: a path
//! is processed when it or one of its prefixes (the empty path included) is marked.
//!
//! The hash is [`PathHasher`] (not keyed): every marked path comes from the policy (rule,
//! package and `with` target paths); input only ever reaches the probes, which compare the
//! components exactly.

use crate::utils::PathHasher;
use crate::PathMap;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use anyhow::{anyhow, Result};
use core::hash::Hasher as _;

#[derive(Debug, Clone)]
struct Entry {
    path: Box<[Box<str>]>,
    processed: bool,
    overridden: bool,
}

impl Entry {
    fn is<S: AsRef<str>>(&self, path: &[S]) -> bool {
        self.path.len() == path.len() && self.path.iter().zip(path).all(|(a, b)| &**a == b.as_ref())
    }
}

/// The evaluated paths (`data.` left out) and the `with data...` override targets.
#[derive(Debug, Clone, Default)]
pub struct ProcessedPaths {
    /// Hash of the components → the entries with that hash (almost always one).
    entries: PathMap<u64, Vec<Entry>>,
    /// Some entry is an override target (spares the probes of `has_override_ancestor` otherwise).
    any_overridden: bool,
}

#[inline]
fn add_component(hasher: &mut PathHasher, component: &str) {
    hasher.write(component.as_bytes());
    hasher.write_u8(0xff);
}

fn hash_of(path: &[&str]) -> u64 {
    let mut hasher = PathHasher::default();
    for component in path {
        add_component(&mut hasher, component);
    }
    hasher.finish()
}

impl ProcessedPaths {
    fn entry<S: AsRef<str>>(&self, hash: u64, path: &[S]) -> Option<&Entry> {
        self.entries.get(&hash)?.iter().find(|e| e.is(path))
    }

    fn entry_mut(&mut self, path: &[&str]) -> Result<&mut Entry> {
        let bucket = self.entries.entry(hash_of(path)).or_default();
        let index = bucket.iter().position(|e| e.is(path)).unwrap_or_else(|| {
            bucket.push(Entry {
                path: path.iter().map(|c| Box::from(*c)).collect(),
                processed: false,
                overridden: false,
            });
            bucket.len().saturating_sub(1)
        });
        bucket
            .get_mut(index)
            .ok_or_else(|| anyhow!("internal error: processed-path entry missing"))
    }

    /// Whether `path` or one of its prefixes, matched by `flag`, is marked.
    fn any_prefix<S: AsRef<str>>(&self, path: &[S], flag: fn(&Entry) -> bool) -> bool {
        if self.entries.is_empty() {
            return false;
        }
        let mut hasher = PathHasher::default();
        // The empty prefix, then each longer one.
        if self.entry::<&str>(hasher.finish(), &[]).is_some_and(flag) {
            return true;
        }
        for (len, component) in (1..).zip(path) {
            add_component(&mut hasher, component.as_ref());
            let prefix = path.get(..len).unwrap_or(path);
            if self.entry(hasher.finish(), prefix).is_some_and(flag) {
                return true;
            }
        }
        false
    }

    /// `path` or a prefix of it has been evaluated.
    pub fn is_processed<S: AsRef<str>>(&self, path: &[S]) -> bool {
        self.any_prefix(path, |e| e.processed)
    }

    pub fn mark_processed(&mut self, path: &[&str]) -> Result<()> {
        self.entry_mut(path)?.processed = true;
        Ok(())
    }

    /// Marks `path` evaluated and replaced by a `with data...` modifier.
    pub fn mark_override(&mut self, path: &[&str]) -> Result<()> {
        let entry = self.entry_mut(path)?;
        entry.processed = true;
        entry.overridden = true;
        self.any_overridden = true;
        Ok(())
    }

    /// `path` or a prefix of it was replaced by a `with data...` modifier.
    pub fn has_override_ancestor(&self, path: &[&str]) -> bool {
        self.any_overridden && self.any_prefix(path, |e| e.overridden)
    }

    /// The state a nested `with` starts from: the override markers only (nothing processed), and
    /// the overridden paths with their `data` prefix, parents first.
    pub fn inherit_overrides(&self) -> Result<(Self, Vec<Vec<String>>)> {
        let mut inherited = Self::default();
        if !self.any_overridden {
            return Ok((inherited, Vec::new()));
        }
        // Component order puts parents before children: upstream's tree walk order.
        let mut targets: Vec<&[Box<str>]> = self
            .entries
            .values()
            .flatten()
            .filter(|e| e.overridden)
            .map(|e| &*e.path)
            .collect();
        targets.sort_unstable();
        let mut paths = Vec::with_capacity(targets.len());
        for target in targets {
            let components: Vec<&str> = target.iter().map(|c| &**c).collect();
            inherited.entry_mut(&components)?.overridden = true;
            let mut with_data = Vec::with_capacity(target.len().saturating_add(1));
            with_data.push(String::from("data"));
            with_data.extend(target.iter().map(|c| String::from(&**c)));
            paths.push(with_data);
        }
        inherited.any_overridden = true;
        Ok((inherited, paths))
    }
}

#[cfg(test)]
#[allow(clippy::panic_in_result_fn)] // test code: assertions are the point
mod tests {
    use super::*;
    use alloc::string::ToString as _;
    use alloc::vec;

    #[test]
    fn a_path_is_processed_when_it_or_a_prefix_is_marked() -> Result<()> {
        let mut p = ProcessedPaths::default();
        assert!(!p.is_processed::<&str>(&[]));
        assert!(!p.is_processed(&["a", "b"]));
        p.mark_processed(&["a", "b"])?;
        assert!(p.is_processed(&["a", "b"]));
        assert!(p.is_processed(&["a", "b", "c"]));
        assert!(!p.is_processed(&["a"]));
        assert!(!p.is_processed(&["a", "bc"]));
        // Components are compared whole: "a.b" is one component, not two.
        assert!(!p.is_processed(&["a.b"]));
        assert!(!p.is_processed(&["ab"]));
        p.mark_processed(&[])?;
        assert!(p.is_processed(&["x"]));
        Ok(())
    }

    #[test]
    fn overrides_are_processed_and_inherited_without_the_processed_marks() -> Result<()> {
        let mut p = ProcessedPaths::default();
        p.mark_processed(&["q", "r"])?;
        p.mark_override(&["a", "b"])?;
        p.mark_override(&["a"])?;
        assert!(p.is_processed(&["a", "b", "c"]));
        assert!(p.has_override_ancestor(&["a", "z"]));
        assert!(!p.has_override_ancestor(&["q", "r"]));
        let (inherited, paths) = p.inherit_overrides()?;
        assert_eq!(
            paths,
            vec![
                vec!["data".to_string(), "a".to_string()],
                vec!["data".to_string(), "a".to_string(), "b".to_string()],
            ]
        );
        assert!(inherited.has_override_ancestor(&["a", "b"]));
        assert!(!inherited.is_processed(&["a", "b"]));
        assert!(!inherited.is_processed(&["q", "r"]));
        Ok(())
    }

    #[test]
    fn colliding_hashes_keep_their_paths_apart() -> Result<()> {
        let mut p = ProcessedPaths::default();
        // Force two different paths into one bucket.
        let hash = hash_of(&["x"]);
        p.entries.entry(hash).or_default().push(Entry {
            path: Box::from([Box::from("y")]),
            processed: true,
            overridden: false,
        });

        assert!(!p.is_processed(&["x"]));
        p.mark_processed(&["x"])?;
        assert!(p.is_processed(&["x"]));
        assert_eq!(p.entries.get(&hash).map(Vec::len), Some(2));
        Ok(())
    }
}
