//! One test's workspace: its log folder and scratch folder.

use std::path::{Path, PathBuf};

use crate::bins::bins;

#[derive(Debug)]
pub struct Stack {
    pub name: String,
    /// `target/e2e-logs/<test>/`: one log per process, emptied at the start.
    pub logs: PathBuf,
    work: tempfile::TempDir,
}

impl Stack {
    /// Builds the binaries if needed and prepares the folders of test `name`.
    pub fn new(name: &str) -> Stack {
        let logs = bins().target_dir.join("e2e-logs").join(name);
        let _ = std::fs::remove_dir_all(&logs);
        std::fs::create_dir_all(&logs).unwrap();
        Stack {
            name: name.to_owned(),
            logs,
            work: tempfile::Builder::new()
                .prefix(&format!("regent-e2e-{name}-"))
                .tempdir()
                .unwrap(),
        }
    }

    /// A new folder under the test's scratch folder.
    pub fn dir(&self, name: &str) -> PathBuf {
        let dir = self.work.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    pub fn work(&self) -> &Path {
        self.work.path()
    }
}
