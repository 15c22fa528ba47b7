//! Finding the binaries under test.
//!
//! Integration tests only get `CARGO_BIN_EXE_*` for their own package, so the harness runs
//! `cargo build -p regent-control-plane -p regent-agent --bins` once per test process, with the
//! profile this test binary was built with (`debug`, `release` or a custom one, read from its
//! path), from the workspace root, inheriting `CARGO_TARGET_DIR` and the rest of the
//! environment. The binaries are taken from the folder this test binary's `deps/` sits in
//! (`target/<profile>/`). `REGENT_E2E_BIN_DIR=<folder>` skips the build and uses prebuilt
//! binaries from that folder instead.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

#[derive(Debug)]
pub struct Bins {
    /// The control plane and CLI.
    pub regent: PathBuf,
    /// The sidecar.
    pub agent: PathBuf,
    /// `target/` (logs go to `target/e2e-logs/`).
    pub target_dir: PathBuf,
}

/// The repository root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Builds (once per process) and returns the binaries.
pub fn bins() -> &'static Bins {
    static BINS: OnceLock<Bins> = OnceLock::new();
    BINS.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        // target/<profile>/deps/<test>-<hash>
        let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
        let target_dir = profile_dir.parent().unwrap().to_path_buf();
        let bin_dir = match std::env::var_os("REGENT_E2E_BIN_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => {
                build(&profile_dir);
                profile_dir
            }
        };
        let bins = Bins {
            regent: bin_dir.join("regent"),
            agent: bin_dir.join("regent-agent"),
            target_dir,
        };
        for bin in [&bins.regent, &bins.agent] {
            assert!(bin.is_file(), "`{}` not found", bin.display());
        }
        bins
    })
}

fn build(profile_dir: &Path) {
    let profile = profile_dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root()).args([
        "build",
        "-p",
        "regent-control-plane",
        "-p",
        "regent-agent",
        "--bins",
    ]);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let started = std::time::Instant::now();
    let out = cmd.output().expect("cannot run cargo");
    assert!(
        out.status.success(),
        "building the binaries failed ({cmd:?}):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "e2e: binaries ready in {:.1} s ({profile} profile)",
        started.elapsed().as_secs_f64()
    );
}
