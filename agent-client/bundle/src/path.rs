//! Normalising entry paths. OPA's own `opa build` writes entries with a leading `/`; Regent writes
//! them without. Both read to the same normalised form: no leading `/`, no `.` segments.

use crate::ReadError;

/// Normalises a tar entry path, refusing traversal, absolute and drive-qualified paths.
///
/// A single leading `/` (OPA's layout) and `./` prefixes are accepted and removed.
pub fn normalize(raw: &str, max_len: usize) -> Result<String, ReadError> {
    if raw.contains('\0') || raw.contains('\\') {
        return Err(ReadError::InvalidPath {
            path: raw.to_owned(),
        });
    }
    // `//x` or a drive letter survive the leading-slash strip and would be absolute elsewhere.
    let stripped = raw.strip_prefix('/').unwrap_or(raw);
    if stripped.starts_with('/') || has_drive_prefix(stripped) {
        return Err(ReadError::AbsolutePath {
            path: raw.to_owned(),
        });
    }
    let mut segments = Vec::new();
    for segment in stripped.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                return Err(ReadError::PathTraversal {
                    path: raw.to_owned(),
                });
            }
            s => segments.push(s),
        }
    }
    if segments.is_empty() {
        return Err(ReadError::InvalidPath {
            path: raw.to_owned(),
        });
    }
    let path = segments.join("/");
    if path.len() > max_len {
        return Err(ReadError::PathTooLong {
            len: path.len(),
            path,
            limit: max_len,
        });
    }
    Ok(path)
}

fn has_drive_prefix(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
}

/// The data path (`a/b`) a data file at `path` (`a/b/data.json`) is loaded at; empty for the root.
pub fn data_dir(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// The last segment of a normalised path.
pub fn basename(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(_, name)| name)
}

/// Splits a root or data path into its segments, ignoring empty ones.
pub fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// Whether `inner` lies at or below `outer`, segment-wise (`a/b` is under `a`, `ab` is not).
pub fn is_under(inner: &[&str], outer: &[&str]) -> bool {
    inner.len() >= outer.len() && inner.iter().zip(outer).all(|(a, b)| a == b)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn normalises_opa_and_regent_layouts_alike() {
        assert_eq!(normalize("/policy/x.rego", 100).unwrap(), "policy/x.rego");
        assert_eq!(normalize("policy/x.rego", 100).unwrap(), "policy/x.rego");
        assert_eq!(
            normalize("./policy//./x.rego", 100).unwrap(),
            "policy/x.rego"
        );
    }

    #[test]
    fn refuses_escapes() {
        assert!(matches!(
            normalize("../x", 100),
            Err(ReadError::PathTraversal { .. })
        ));
        assert!(matches!(
            normalize("/a/../../x", 100),
            Err(ReadError::PathTraversal { .. })
        ));
        assert!(matches!(
            normalize("//etc/passwd", 100),
            Err(ReadError::AbsolutePath { .. })
        ));
        assert!(matches!(
            normalize("C:/x", 100),
            Err(ReadError::AbsolutePath { .. })
        ));
        assert!(matches!(
            normalize("a\\..\\b", 100),
            Err(ReadError::InvalidPath { .. })
        ));
        assert!(matches!(
            normalize("/", 100),
            Err(ReadError::InvalidPath { .. })
        ));
        assert!(matches!(
            normalize("abcdef", 3),
            Err(ReadError::PathTooLong { .. })
        ));
    }

    #[test]
    fn data_paths_and_roots() {
        assert_eq!(data_dir("a/b/data.json"), "a/b");
        assert_eq!(data_dir("data.json"), "");
        assert!(is_under(&segments("a/b"), &segments("a")));
        assert!(!is_under(&segments("ab"), &segments("a")));
        assert!(is_under(&segments("x"), &segments("")));
    }
}
