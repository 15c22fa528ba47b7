//! Finding PostgreSQL's server binaries: `REGENT_POSTGRES_BIN`, then Debian's versioned
//! `/usr/lib/postgresql/<major>/bin` (newest first, or the major an existing cluster needs),
//! then `initdb` on PATH.

use std::path::{Path, PathBuf};

use super::EmbeddedPgError;

const DEBIAN_ROOT: &str = "/usr/lib/postgresql";
const NEEDED: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// The folder holding `initdb`, `pg_ctl` and `postgres` of one PostgreSQL version.
#[derive(Debug, Clone)]
pub struct PgBinaries {
    bin_dir: PathBuf,
}

impl PgBinaries {
    /// Finds server binaries; `existing` is the major version and folder of an initialised
    /// cluster, which only the same major can open.
    pub fn find(existing: Option<(u32, &Path)>) -> Result<PgBinaries, EmbeddedPgError> {
        if let Some(dir) = std::env::var_os("REGENT_POSTGRES_BIN") {
            let dir = PathBuf::from(dir);
            return if complete(&dir) {
                Ok(PgBinaries { bin_dir: dir })
            } else {
                Err(EmbeddedPgError::BinariesNotFound)
            };
        }
        let mut debian = debian_versions(Path::new(DEBIAN_ROOT));
        debian.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
        if let Some((want, data)) = existing {
            if let Some((_, dir)) = debian.iter().find(|(v, _)| *v == want) {
                return Ok(PgBinaries {
                    bin_dir: dir.clone(),
                });
            }
            if !debian.is_empty() {
                let found = debian
                    .iter()
                    .map(|(v, _)| v.to_string())
                    .collect::<Vec<_>>();
                return Err(EmbeddedPgError::VersionMismatch {
                    dir: data.display().to_string(),
                    wanted: want,
                    found: found.join(", "),
                });
            }
        } else if let Some((_, dir)) = debian.into_iter().next() {
            return Ok(PgBinaries { bin_dir: dir });
        }
        // Elsewhere, `initdb` on PATH (often a symlink into the real bin folder). A version
        // mismatch with an existing cluster is then reported by postgres itself in its log.
        let on_path = std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .map(|dir| dir.join("initdb"))
            .find(|p| p.is_file())
            .and_then(|p| p.canonicalize().ok())
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .filter(|dir| complete(dir));
        on_path
            .map(|bin_dir| PgBinaries { bin_dir })
            .ok_or(EmbeddedPgError::BinariesNotFound)
    }

    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    pub fn initdb(&self) -> PathBuf {
        self.bin_dir.join("initdb")
    }

    pub fn pg_ctl(&self) -> PathBuf {
        self.bin_dir.join("pg_ctl")
    }
}

fn complete(dir: &Path) -> bool {
    NEEDED.iter().all(|name| dir.join(name).is_file())
}

/// `(major, bin folder)` for every complete `/usr/lib/postgresql/<major>/bin`.
fn debian_versions(root: &Path) -> Vec<(u32, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            complete(&bin).then_some((major, bin))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_complete_version_wins() {
        let root = std::env::temp_dir().join(format!("regent-pgbin-{}", std::process::id()));
        for (v, names) in [
            ("13", &NEEDED[..]),
            ("16", &NEEDED[..2]),
            ("15", &NEEDED[..]),
            ("x", &NEEDED[..]),
        ] {
            let bin = root.join(v).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            for n in names {
                std::fs::write(bin.join(n), "").unwrap();
            }
        }
        let mut found = debian_versions(&root);
        found.sort();
        assert_eq!(found.iter().map(|(v, _)| *v).collect::<Vec<_>>(), [13, 15]);
        let _ = std::fs::remove_dir_all(&root);
    }
}
