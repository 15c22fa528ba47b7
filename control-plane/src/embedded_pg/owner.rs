//! Who runs the server: the current user, or — under root, which PostgreSQL refuses — the
//! `postgres` system user.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use super::{EmbeddedPgError, io_err};

const SERVER_USER: &str = "postgres";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    /// `None` when not root (the server runs as the current user); the `postgres` user's ids
    /// under root.
    pub fn detect() -> Result<Option<RunAs>, EmbeddedPgError> {
        // `/proc/self` belongs to the effective uid; no libc call (unsafe is forbidden here).
        let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        if !root {
            return Ok(None);
        }
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        lookup(&passwd, SERVER_USER)
            .map(Some)
            .ok_or(EmbeddedPgError::NoPostgresUser)
    }

    /// Whether this user may traverse a folder with `meta`.
    pub fn can_search(&self, meta: &std::fs::Metadata) -> bool {
        let mode = meta.mode();
        mode & 0o001 != 0
            || (meta.uid() == self.uid && mode & 0o100 != 0)
            || (meta.gid() == self.gid && mode & 0o010 != 0)
    }
}

/// `name:x:uid:gid:…` lines of /etc/passwd.
fn lookup(passwd: &str, name: &str) -> Option<RunAs> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != name {
            return None;
        }
        let uid = fields.nth(1)?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some(RunAs { uid, gid })
    })
}

/// Hands `dir` and everything in it to `who` (once: nothing happens when `dir` is already
/// theirs).
pub fn chown_tree(dir: &Path, who: RunAs) -> Result<(), EmbeddedPgError> {
    let meta = std::fs::symlink_metadata(dir).map_err(io_err(dir))?;
    if meta.uid() == who.uid && meta.gid() == who.gid {
        return Ok(());
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        std::os::unix::fs::lchown(&path, Some(who.uid), Some(who.gid)).map_err(io_err(&path))?;
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            for entry in std::fs::read_dir(&path).map_err(io_err(&path))? {
                stack.push(entry.map_err(io_err(&path))?.path());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_postgres_user() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\npostgres:x:101:104:PostgreSQL:/var/lib/postgresql:/bin/bash\n";
        assert_eq!(
            lookup(passwd, "postgres"),
            Some(RunAs { uid: 101, gid: 104 })
        );
        assert_eq!(lookup(passwd, "nobody"), None);
    }
}
