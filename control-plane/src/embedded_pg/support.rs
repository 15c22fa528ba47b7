//! Running PostgreSQL's programs and reading the files it leaves behind.

use std::path::Path;

use super::EmbeddedPgError;

/// The server log is rotated once at start when it grew beyond this.
const MAX_LOG_BYTES: u64 = 16 * 1024 * 1024;

pub(super) async fn run(
    what: &str,
    mut cmd: tokio::process::Command,
) -> Result<String, EmbeddedPgError> {
    let output = cmd.output().await.map_err(|e| EmbeddedPgError::Command {
        command: what.into(),
        status: "not started".into(),
        output: e.to_string(),
    })?;
    check_output(what, &output)
}

pub(super) fn check_output(
    what: &str,
    output: &std::process::Output,
) -> Result<String, EmbeddedPgError> {
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    if output.status.success() {
        return Ok(text);
    }
    Err(EmbeddedPgError::Command {
        command: what.into(),
        status: output.status.to_string(),
        output: last_lines(text.trim(), 8),
    })
}

pub(super) fn read_port(dir: &Path) -> Option<u16> {
    std::fs::read_to_string(dir.join("port"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The major version recorded in an initialised cluster.
pub(super) fn read_pg_version(data: &Path) -> Option<u32> {
    std::fs::read_to_string(data.join("PG_VERSION"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `postmaster.pid`: line 1 is the pid, line 4 the port.
pub(super) fn read_postmaster_pid(data: &Path) -> Option<(u32, u16)> {
    let text = std::fs::read_to_string(data.join("postmaster.pid")).ok()?;
    let mut lines = text.lines();
    let pid = lines.next()?.trim().parse().ok()?;
    let port = lines.nth(2)?.trim().parse().ok()?;
    Some((pid, port))
}

/// Alive and not a zombie waiting to be reaped (a zombie has closed its files and sockets).
pub fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
    })
}

/// A port the kernel just handed out on 127.0.0.1 (free at the time of asking).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

pub(super) fn rotate_log(log: &Path) {
    if std::fs::metadata(log).is_ok_and(|m| m.len() > MAX_LOG_BYTES) {
        let _ = std::fs::rename(log, log.with_extension("log.1"));
    }
}

pub(super) fn read_from(path: &Path, offset: u64) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let start = usize::try_from(offset).unwrap_or(0).min(bytes.len());
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

pub(super) fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

pub(super) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_pid_file() {
        assert_eq!(shell_quote("a b'c"), r"'a b'\''c'");
        assert_eq!(shell_quote(""), "''");
        let dir = std::env::temp_dir().join(format!("regent-pgpid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("postmaster.pid"),
            "4242\n/x/data\n1700000000\n54321\n/x\n",
        )
        .unwrap();
        assert_eq!(read_postmaster_pid(&dir), Some((4242, 54321)));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(process_alive(std::process::id()));
        assert_eq!(last_lines("a\nb\nc", 2), "b | c");
    }
}
