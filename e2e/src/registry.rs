//! The CNCF distribution registry (Debian `docker-registry`) on a free loopback port with
//! filesystem storage; `stop`/`start` make an outage on the same port and storage. Plus `skopeo`
//! as an independent client and raw access for tampering.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::process::Proc;
use crate::stack::Stack;

#[derive(Debug)]
pub struct Registry {
    dir: tempfile::TempDir,
    logs: PathBuf,
    pub port: u16,
    proc: Option<Proc>,
}

/// Manifest media types asked for when reading a manifest over HTTP.
pub const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

impl Registry {
    pub async fn start(stack: &Stack) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("regent-e2e-registry-")
            .tempdir()
            .unwrap();
        let port = crate::free_port();
        std::fs::write(
            dir.path().join("config.yml"),
            format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  cache:\n    blobdescriptor: ''\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("storage").display()
            ),
        )
        .unwrap();
        let mut registry = Registry {
            dir,
            logs: stack.logs.clone(),
            port,
            proc: None,
        };
        registry.start_again().await;
        registry
    }

    /// (Re)starts on the same port and storage; waits until `GET /v2/` answers.
    pub async fn start_again(&mut self) {
        assert!(self.proc.is_none(), "the registry is already running");
        let mut cmd = Command::new("docker-registry");
        cmd.arg("serve").arg(self.dir.path().join("config.yml"));
        let mut proc = Proc::spawn("registry", cmd, &self.logs);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = client.get(format!("{}/v2/", self.url())).send().await
                && r.status().is_success()
            {
                break;
            }
            if let Some(status) = proc.exited() {
                panic!(
                    "docker-registry exited with {status} (apt-get install docker-registry):\n{}",
                    proc.tail(30)
                );
            }
            assert!(Instant::now() < deadline, "registry not ready after 20 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.proc = Some(proc);
    }

    /// Kills the registry; its port refuses connections until `start_again`.
    pub fn stop(&mut self) {
        if let Some(mut proc) = self.proc.take() {
            proc.kill9();
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// `skopeo inspect --raw` of `<repo>:<tag>`: the manifest bytes exactly as served.
    pub async fn skopeo_raw(&self, reference: &str) -> Result<Vec<u8>, String> {
        let out = tokio::process::Command::new("skopeo")
            .args([
                "inspect",
                "--raw",
                "--tls-verify=false",
                &format!("docker://{}/{reference}", self.host()),
            ])
            .output()
            .await
            .expect("`skopeo` not found: apt-get install -y skopeo");
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// The tags of `repo` (`regent/hr-bot`), by the registry's HTTP API.
    pub async fn tags(&self, repo: &str) -> Vec<String> {
        let r = reqwest::get(format!("{}/v2/{repo}/tags/list", self.url()))
            .await
            .unwrap();
        if !r.status().is_success() {
            return Vec::new();
        }
        let body: Value = r.json().await.unwrap();
        body["tags"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Deletes a tag's manifest (by digest; the registry deletes manifests, not tags).
    pub async fn delete_manifest(&self, repo: &str, digest: &str) {
        let r = reqwest::Client::new()
            .delete(format!("{}/v2/{repo}/manifests/{digest}", self.url()))
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "delete {repo}@{digest}: {}",
            r.status()
        );
    }

    /// Uploads a blob (monolithic POST+PUT); returns its digest.
    pub async fn put_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256_digest(bytes);
        let client = reqwest::Client::new();
        let r = client
            .post(format!("{}/v2/{repo}/blobs/uploads/", self.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "blob upload start");
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        let location = if location.starts_with("http") {
            location
        } else {
            format!("{}{location}", self.url())
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let r = client
            .put(format!("{location}{sep}digest={digest}"))
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "blob upload: {}", r.text().await.unwrap());
        digest
    }

    /// Puts manifest bytes under `reference` (a tag); returns their digest.
    pub async fn put_manifest(&self, repo: &str, reference: &str, manifest: &[u8]) -> String {
        let media_type = serde_json::from_slice::<Value>(manifest).unwrap()["mediaType"]
            .as_str()
            .unwrap_or("application/vnd.oci.image.manifest.v1+json")
            .to_owned();
        let r = reqwest::Client::new()
            .put(format!("{}/v2/{repo}/manifests/{reference}", self.url()))
            .header("content-type", media_type)
            .body(manifest.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "manifest put: {}", r.text().await.unwrap());
        sha256_digest(manifest)
    }

    /// A blob's bytes.
    pub async fn blob(&self, repo: &str, digest: &str) -> Vec<u8> {
        let r = reqwest::get(format!("{}/v2/{repo}/blobs/{digest}", self.url()))
            .await
            .unwrap();
        assert!(r.status().is_success(), "blob {digest}: {}", r.status());
        r.bytes().await.unwrap().to_vec()
    }

    /// Where the registry keeps a blob on disk.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir.path().join(format!(
            "storage/docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        ))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for b in hash {
        hex.push_str(&format!("{b:02x}"));
    }
    format!("sha256:{hex}")
}

/// The cosign signature tag of a manifest digest: `sha256-<hex>.sig`.
pub fn sig_tag(digest: &str) -> String {
    format!("{}.sig", digest.replace(':', "-"))
}
