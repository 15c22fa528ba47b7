//! A real CNCF distribution registry (Debian `docker-registry`) on a free loopback port, with
//! filesystem storage in a temp dir; killed on drop. `stop()`/`start()` simulate an outage on
//! the same port and storage. Plus `skopeo` helpers, an independent OCI client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use regent_control_plane::config::{RegistryAuth, RegistryConfig};

pub struct TestRegistry {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl TestRegistry {
    /// Starts a registry and waits until `GET /v2/` answers.
    pub async fn start_new() -> TestRegistry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        std::fs::create_dir_all(dir.path().join("storage")).unwrap();
        std::fs::write(
            dir.path().join("config.yml"),
            format!(
                "version: 0.1\n\
                 log:\n  level: warn\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("storage").display()
            ),
        )
        .unwrap();
        let mut registry = TestRegistry {
            dir,
            port,
            child: None,
        };
        registry.start().await;
        registry
    }

    /// (Re)starts the registry on the same port and storage.
    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "the registry is already running");
        let log = std::fs::File::create(self.log_path()).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("`docker-registry` not found: apt-get install -y docker-registry");
        self.child = Some(child);
        self.wait_ready().await;
    }

    /// Kills the registry (its storage stays); the port refuses connections until `start`.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn wait_ready(&mut self) {
        let url = format!("http://{}/v2/", self.host());
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(response) = client.get(&url).send().await
                && response.status().is_success()
            {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("docker-registry exited with {status}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "registry not ready after 15 s: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Config for this registry: plain HTTP (loopback), anonymous, prefix `regent`.
    pub fn config(&self, name: &str) -> RegistryConfig {
        RegistryConfig {
            name: name.into(),
            host: self.host(),
            repository_prefix: "regent".into(),
            insecure: true,
            auth: RegistryAuth::Anonymous,
        }
    }

    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// `skopeo inspect --raw` of `<repository>:<tag>` (or `@digest`), as JSON.
    pub fn inspect_raw(&self, reference: &str) -> serde_json::Value {
        serde_json::from_slice(&self.inspect_raw_bytes(reference)).unwrap()
    }

    /// The raw manifest bytes skopeo reads for `reference` (their sha256 is the digest).
    pub fn inspect_raw_bytes(&self, reference: &str) -> Vec<u8> {
        skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{}/{reference}", self.host()),
        ])
    }

    /// `skopeo copy` of `reference` into an OCI layout folder `dest` (`oci:<dest>:<tag>`).
    pub fn copy_to_oci_layout(&self, reference: &str, dest: &Path) {
        skopeo(&[
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{}/{reference}", self.host()),
            &format!("oci:{}:pulled", dest.display()),
        ]);
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs skopeo, panicking with its stderr on failure.
pub fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("`skopeo` not found: apt-get install -y skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
