//! A child process whose output goes to a log file, killed (SIGKILL) when dropped; when the
//! drop happens during a panic, the log's tail is printed so a failing test shows what every
//! process said.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Proc {
    pub name: String,
    child: Option<Child>,
    log: PathBuf,
}

/// Lines of a log printed when a test fails.
const TAIL_LINES: usize = 80;

impl Proc {
    /// Starts `cmd` with stdout and stderr appended to `<logs>/<name>.log`.
    pub fn spawn(name: &str, cmd: Command, logs: &Path) -> Proc {
        let log = logs.join(format!("{name}.log"));
        let file = Self::open_log(&log, &cmd);
        Self::start(name, cmd, log, file.try_clone().unwrap(), file)
    }

    /// Like `spawn`, but stdout goes to `stdout` (a file the caller reads).
    pub fn spawn_with_stdout(name: &str, cmd: Command, logs: &Path, stdout: &Path) -> Proc {
        let log = logs.join(format!("{name}.log"));
        let file = Self::open_log(&log, &cmd);
        let out = File::create(stdout).unwrap();
        Self::start(name, cmd, log, out, file)
    }

    fn open_log(log: &Path, cmd: &Command) -> File {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        writeln!(file, "==== e2e: starting {cmd:?}").unwrap();
        file
    }

    fn start(name: &str, mut cmd: Command, log: PathBuf, stdout: File, stderr: File) -> Proc {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Proc {
            name: name.to_owned(),
            child: Some(child),
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("not running").id()
    }

    /// Still running (not exited)?
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// The exit status if the process has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().unwrap())
    }

    /// SIGKILL, and reap.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            self.note("killed with SIGKILL");
        }
    }

    /// SIGTERM, then waits up to `grace` for the exit (SIGKILL after that). Returns the status.
    pub async fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        signal(child.id(), "TERM");
        let deadline = Instant::now() + grace;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        self.note(&format!("SIGTERM → {status:?}"));
        status
    }

    /// `terminate` for places that cannot await (drops): blocks this thread.
    pub fn terminate_blocking(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        signal(child.id(), "TERM");
        let deadline = Instant::now() + grace;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn note(&self, what: &str) {
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(&self.log) {
            let _ = writeln!(f, "==== e2e: {what}");
        }
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of the log.
    pub fn tail(&self, n: usize) -> String {
        let text = self.log();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// Sends `SIG<sig>` to `pid` with kill(1) (no libc binding needed).
pub fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{sig} {pid} failed");
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!(
                "\n---- {} ({}), last {TAIL_LINES} lines ----\n{}\n",
                self.name,
                self.log.display(),
                self.tail(TAIL_LINES)
            );
        }
    }
}
