//! Building a bundle from a source folder, deterministically: the same folder gives the same
//! bytes on every run and machine (sorted entries, fixed mtime/uid/gid/mode, fixed gzip header,
//! relative entry names).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::archive::RawFile;
use crate::bundle::{Bundle, MANIFEST};
use crate::manifest::Manifest;
use crate::{BuildError, Limits, path};

/// The optional build config at `<folder>/regent.yaml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    /// The persona this bundle is for; also the signature scope.
    pub persona: Option<String>,
    /// Decision rule path, e.g. `regent/persona/decision`.
    pub entrypoint: Option<String>,
    pub rego_version: Option<i64>,
    pub roots: Option<Vec<String>>,
    /// Where this folder's own files land inside the bundle (e.g. `regent/persona`).
    #[serde(default)]
    pub mount: String,
    /// Other folders composed into the bundle (shared libraries, tool policies).
    #[serde(default)]
    pub include: Vec<Include>,
    /// Copied into `.manifest` `metadata`.
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

/// A folder composed into the bundle at `mount`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Include {
    /// Relative to the folder holding `regent.yaml`.
    pub from: PathBuf,
    #[serde(default)]
    pub mount: String,
}

/// The name of the build config file in a bundle source folder.
pub const CONFIG_FILE: &str = "regent.yaml";

/// Options a caller adds on top of the folder's config.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The manifest `revision`; defaults to the content digest.
    pub revision: Option<String>,
    /// Extra `metadata.regent` fields (e.g. source commit), merged over the computed ones.
    pub regent_metadata: Map<String, Value>,
}

/// Reads `<dir>/regent.yaml` when present.
pub fn load_config(dir: &Path) -> Result<BuildConfig, BuildError> {
    let file = dir.join(CONFIG_FILE);
    match std::fs::read(&file) {
        Ok(bytes) => yaml_serde::from_slice(&bytes).map_err(|e| BuildError::Config {
            path: file.display().to_string(),
            detail: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BuildConfig::default()),
        Err(source) => Err(BuildError::Io {
            path: file.display().to_string(),
            source,
        }),
    }
}

/// Builds the bundle for the source folder `dir`.
///
/// Only `*.rego` and `data.json`/`data.yaml`/`data.yml` files are taken; hidden files and
/// folders are skipped; symbolic links are refused. Data files are merged into one root
/// `data.json`, as `opa build` does.
pub fn build_dir(dir: &Path, options: &BuildOptions) -> Result<Bundle, BuildError> {
    let config = load_config(dir)?;
    let mut sources = vec![(dir.to_path_buf(), config.mount.clone())];
    for include in &config.include {
        sources.push((dir.join(&include.from), include.mount.clone()));
    }
    let mut collected: BTreeMap<String, (PathBuf, Vec<u8>)> = BTreeMap::new();
    for (root, mount) in &sources {
        for file in walk(root)? {
            let relative = file.strip_prefix(root).unwrap_or(&file);
            let relative = relative.to_string_lossy().replace('\\', "/");
            let bundle_path = path::normalize(&format!("{mount}/{relative}"), usize::MAX)
                .map_err(BuildError::Invalid)?;
            let bytes = std::fs::read(&file).map_err(|source| BuildError::Io {
                path: file.display().to_string(),
                source,
            })?;
            if let Some((other, _)) = collected.get(&bundle_path) {
                return Err(BuildError::DuplicatePath {
                    path: file.display().to_string(),
                    other: other.display().to_string(),
                    bundle_path,
                });
            }
            collected.insert(bundle_path, (file, bytes));
        }
    }

    let mut manifest = Manifest {
        revision: String::new(),
        roots: config.roots.clone(),
        rego_version: Some(config.rego_version.unwrap_or(1)),
        ..Manifest::default()
    };
    // Parse everything once as a bundle without a manifest file, so data merging, roots and
    // limits follow exactly the rules a reader applies.
    let mut files: Vec<RawFile> = collected
        .into_iter()
        .map(|(path, (_, bytes))| RawFile { path, bytes })
        .collect();
    let probe = Bundle::from_files(with_manifest(files.clone(), &manifest), &Limits::DEFAULT)?;
    files.retain(|f| !is_data_file(&f.path));
    let data = serde_json::to_vec(&probe.data).map_err(|e| BuildError::Write(e.to_string()))?;
    files.push(RawFile {
        path: "data.json".into(),
        bytes: data,
    });

    let unstamped = Bundle::from_files(with_manifest(files.clone(), &manifest), &Limits::DEFAULT)?;
    let digest = unstamped.content_digest();
    manifest.revision = options.revision.clone().unwrap_or_else(|| digest.clone());
    manifest.metadata = config.metadata.clone();
    if let Some(persona) = &config.persona {
        manifest.set_regent_field("persona", Value::String(persona.clone()));
    }
    if let Some(entrypoint) = &config.entrypoint {
        manifest.set_regent_field("entrypoint", Value::String(entrypoint.clone()));
    }
    manifest.set_regent_field("content_digest", Value::String(digest));
    for (key, value) in &options.regent_metadata {
        manifest.set_regent_field(key, value.clone());
    }
    Ok(Bundle::from_files(
        with_manifest(files, &manifest),
        &Limits::DEFAULT,
    )?)
}

fn is_data_file(path: &str) -> bool {
    matches!(path::basename(path), "data.json" | "data.yaml" | "data.yml")
}

fn with_manifest(mut files: Vec<RawFile>, manifest: &Manifest) -> Vec<RawFile> {
    files.retain(|f| f.path != MANIFEST);
    files.push(RawFile {
        path: MANIFEST.into(),
        bytes: manifest.to_bytes(),
    });
    files
}

/// Files under `root` that belong in a bundle, in a stable order.
fn walk(root: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| BuildError::Io { path, source }
    };
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let meta = std::fs::symlink_metadata(&dir).map_err(io(&dir))?;
        if meta.file_type().is_symlink() {
            return Err(BuildError::Symlink {
                path: dir.display().to_string(),
            });
        }
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(io(&dir))?
            .collect::<Result<_, _>>()
            .map_err(io(&dir))?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let kind = entry.file_type().map_err(io(&path))?;
            if kind.is_symlink() {
                return Err(BuildError::Symlink {
                    path: path.display().to_string(),
                });
            } else if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() && (name.ends_with(".rego") || is_data_file(&name)) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

impl Bundle {
    /// Writes the bundle as a deterministic tar.gz: entries sorted by path, without a leading
    /// `/`, mode 0644, uid/gid 0, mtime 0, no directory entries; gzip with mtime 0, no name,
    /// OS byte 255, default compression.
    pub fn to_archive(&self) -> Result<Vec<u8>, BuildError> {
        write_archive(&self.files)
    }
}

/// Writes `files` as a deterministic tar.gz (see [`Bundle::to_archive`]).
pub fn write_archive(files: &[RawFile]) -> Result<Vec<u8>, BuildError> {
    let mut sorted: Vec<&RawFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let gz = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), Compression::default());
    let mut tar = tar::Builder::new(gz);
    let err = |e: std::io::Error| BuildError::Write(e.to_string());
    for file in sorted {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(file.bytes.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        tar.append_data(&mut header, &file.path, file.bytes.as_slice())
            .map_err(err)?;
    }
    let mut gz = tar.into_inner().map_err(err)?;
    gz.flush().map_err(err)?;
    gz.finish().map_err(err)
}
