//! Limits applied when reading a bundle archive. Every archive is treated as hostile.

/// Bounds on what [`crate::read_bundle`] accepts. Each limit, when exceeded, yields its own
/// [`crate::ReadError`] variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Upper bound on the compressed archive, in bytes.
    pub max_archive_bytes: u64,
    /// Upper bound on the sum of all uncompressed file sizes, in bytes.
    pub max_total_bytes: u64,
    /// Upper bound on one file's uncompressed size, in bytes (OPA's `size_limit_bytes`).
    pub max_file_bytes: u64,
    /// Upper bound on the number of tar entries of any type (directories included).
    pub max_entries: usize,
    /// Upper bound on uncompressed bytes per compressed byte (gzip bomb guard). Only applied
    /// once more than [`Limits::ratio_grace_bytes`] have been inflated, so tiny bundles of
    /// highly repetitive text are not refused.
    pub max_compression_ratio: u64,
    /// Uncompressed bytes allowed before the compression ratio is enforced.
    pub ratio_grace_bytes: u64,
    /// Upper bound on a normalised entry path, in bytes.
    pub max_path_bytes: usize,
    /// Upper bound on the nesting depth of data files (JSON/YAML).
    pub max_data_depth: usize,
}

impl Limits {
    /// Defaults sized for policy bundles: generous for real policies and data, far below what
    /// would exhaust an agent's memory.
    pub const DEFAULT: Limits = Limits {
        max_archive_bytes: 64 * 1024 * 1024,
        max_total_bytes: 256 * 1024 * 1024,
        max_file_bytes: 128 * 1024 * 1024,
        max_entries: 10_000,
        max_compression_ratio: 200,
        ratio_grace_bytes: 4 * 1024 * 1024,
        max_path_bytes: 1024,
        max_data_depth: 256,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
