//! One typed error per reason. Messages are lowercase, name the file or field, and say what to do.

use thiserror::Error;

/// Why an archive was refused by [`crate::read_bundle`].
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadError {
    #[error("bundle archive is {size} bytes, over the limit of {limit} bytes")]
    ArchiveTooLarge { size: u64, limit: u64 },
    #[error("bundle is not a valid gzip stream: {detail}")]
    NotGzip { detail: String },
    #[error("bundle is not a valid tar archive: {detail}")]
    NotTar { detail: String },
    #[error("bundle has more than {limit} entries; split the bundle or raise the entry limit")]
    TooManyEntries { limit: usize },
    #[error("file `{path}` is {size} bytes, over the per-file limit of {limit} bytes")]
    FileTooLarge { path: String, size: u64, limit: u64 },
    #[error("bundle expands to more than {limit} bytes; reduce its size or raise the total limit")]
    TotalTooLarge { limit: u64 },
    #[error(
        "bundle expands {ratio}x over its compressed size, above the limit of {limit}x (possible gzip bomb)"
    )]
    CompressionRatio { ratio: u64, limit: u64 },
    #[error("entry name is not valid UTF-8 (bytes {bytes:?})")]
    NonUtf8Path { bytes: Vec<u8> },
    #[error("entry `{path}` escapes the bundle root with `..`")]
    PathTraversal { path: String },
    #[error("entry `{path}` is an absolute or drive-qualified path after normalisation")]
    AbsolutePath { path: String },
    #[error("entry `{path}` has an empty or invalid name")]
    InvalidPath { path: String },
    #[error("entry `{path}` name is {len} bytes, over the limit of {limit} bytes")]
    PathTooLong {
        path: String,
        len: usize,
        limit: usize,
    },
    #[error("entry `{path}` is a {kind}; bundles may only contain regular files and directories")]
    LinkEntry { path: String, kind: &'static str },
    #[error("entry `{path}` is a {kind}; bundles may only contain regular files and directories")]
    DeviceEntry { path: String, kind: &'static str },
    #[error("entry `{path}` has unsupported tar entry type {type_byte}")]
    UnsupportedEntry { path: String, type_byte: u8 },
    #[error("entry `{path}` appears more than once (as `{first}` and `{second}`)")]
    DuplicateEntry {
        path: String,
        first: String,
        second: String,
    },
    #[error("`{path}` is not valid UTF-8 text: {detail}")]
    NonUtf8File { path: String, detail: String },
    #[error("`{path}` line {line} column {column}: malformed JSON: {detail}")]
    MalformedJson {
        path: String,
        line: usize,
        column: usize,
        detail: String,
    },
    #[error("`{path}`: malformed YAML: {detail}")]
    MalformedYaml { path: String, detail: String },
    #[error("`{path}` nests deeper than {limit} levels")]
    DataTooDeep { path: String, limit: usize },
    #[error("`{path}`: root value must be an object")]
    DataRootNotObject { path: String },
    #[error("`{path}`: data at `{data_path}` conflicts with data from another file")]
    DataConflict { path: String, data_path: String },
    #[error("`.manifest`: {detail}")]
    InvalidManifest { detail: String },
    #[error("manifest has overlapped roots: `{first}` and `{second}`")]
    OverlappingRoots { first: String, second: String },
    #[error(
        "manifest roots {roots:?} do not permit data at path `/{data_path}` (from `{path}`); add a root or move the data"
    )]
    DataOutsideRoots {
        path: String,
        data_path: String,
        roots: Vec<String>,
    },
    #[error("`.signatures.json`: {detail}")]
    InvalidSignaturesFile { detail: String },
    #[error(
        "`{path}`: wasm modules are not supported by regent; build the bundle without `--target wasm`"
    )]
    WasmUnsupported { path: String },
    #[error("`patch.json`: delta bundles are not supported; publish a snapshot bundle")]
    DeltaUnsupported,
}

/// Why a folder could not be built into a bundle.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BuildError {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is a symbolic link; bundle sources must be regular files")]
    Symlink { path: String },
    #[error("`{path}`: invalid build config: {detail}")]
    Config { path: String, detail: String },
    #[error("`{path}` and `{other}` both map to bundle path `{bundle_path}`")]
    DuplicatePath {
        path: String,
        other: String,
        bundle_path: String,
    },
    #[error("the built bundle is invalid: {0}")]
    Invalid(#[from] ReadError),
    #[error("cannot write bundle archive: {0}")]
    Write(String),
}
