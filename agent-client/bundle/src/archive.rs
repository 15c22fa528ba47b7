//! Reading a bundle tar.gz as hostile input: every limit enforced while inflating, one typed
//! error per reason, nothing trusted from the headers.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::Read;
use std::rc::Rc;

use flate2::read::GzDecoder;
use tar::EntryType;

use crate::{Limits, ReadError, path};

/// A regular file taken from an archive, with its normalised path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFile {
    /// Normalised path: no leading `/`, no `.` segments.
    pub path: String,
    pub bytes: Vec<u8>,
}

/// Counts the compressed bytes the gzip decoder has consumed, for the compression-ratio guard.
struct CountingReader<'a> {
    inner: &'a [u8],
    consumed: Rc<Cell<u64>>,
}

impl Read for CountingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.set(self.consumed.get() + n as u64);
        Ok(n)
    }
}

const CHUNK: usize = 64 * 1024;

/// Unpacks the regular files of a gzip'd tar archive, enforcing `limits`.
///
/// Directory entries and PAX global headers are skipped; links, devices and other entry types
/// are refused. Files are returned in archive order.
pub fn unpack(archive: &[u8], limits: &Limits) -> Result<Vec<RawFile>, ReadError> {
    let size = archive.len() as u64;
    if size > limits.max_archive_bytes {
        return Err(ReadError::ArchiveTooLarge {
            size,
            limit: limits.max_archive_bytes,
        });
    }
    if archive.len() < 2 || archive[0] != 0x1f || archive[1] != 0x8b {
        return Err(ReadError::NotGzip {
            detail: "missing gzip magic bytes 1f 8b".into(),
        });
    }
    let consumed = Rc::new(Cell::new(0u64));
    let reader = CountingReader {
        inner: archive,
        consumed: Rc::clone(&consumed),
    };
    let mut tar = tar::Archive::new(GzDecoder::new(reader));
    let entries = tar.entries().map_err(|e| stream_error(&e))?;

    let mut files = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut total: u64 = 0;
    for (index, entry) in entries.enumerate() {
        if index >= limits.max_entries {
            return Err(ReadError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        let mut entry = entry.map_err(|e| stream_error(&e))?;
        let raw_path = entry.path_bytes().into_owned();
        let raw = String::from_utf8(raw_path).map_err(|e| ReadError::NonUtf8Path {
            bytes: e.into_bytes(),
        })?;
        let kind = entry.header().entry_type();
        match kind {
            EntryType::Regular | EntryType::Continuous => {}
            EntryType::Directory | EntryType::XGlobalHeader => continue,
            EntryType::Symlink => return Err(link(&raw, "symbolic link")),
            EntryType::Link => return Err(link(&raw, "hard link")),
            EntryType::Char => return Err(device(&raw, "character device")),
            EntryType::Block => return Err(device(&raw, "block device")),
            EntryType::Fifo => return Err(device(&raw, "named pipe")),
            other => {
                return Err(ReadError::UnsupportedEntry {
                    path: raw,
                    type_byte: other.as_byte(),
                });
            }
        }
        let path = path::normalize(&raw, limits.max_path_bytes)?;
        if let Some(first) = seen.get(&path) {
            return Err(ReadError::DuplicateEntry {
                path,
                first: first.clone(),
                second: raw,
            });
        }
        // The header's size is attacker-controlled; check it first, then count what inflates.
        let declared = entry.header().size().unwrap_or(u64::MAX);
        if declared > limits.max_file_bytes {
            return Err(ReadError::FileTooLarge {
                path,
                size: declared,
                limit: limits.max_file_bytes,
            });
        }
        let bytes = read_entry(&mut entry, &path, limits, &mut total, &consumed)?;
        seen.insert(path.clone(), raw);
        files.push(RawFile { path, bytes });
    }
    Ok(files)
}

fn read_entry(
    entry: &mut impl Read,
    path: &str,
    limits: &Limits,
    total: &mut u64,
    consumed: &Cell<u64>,
) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = entry.read(&mut chunk).map_err(|e| stream_error(&e))?;
        if n == 0 {
            return Ok(bytes);
        }
        bytes.extend_from_slice(&chunk[..n]);
        *total += n as u64;
        if bytes.len() as u64 > limits.max_file_bytes {
            return Err(ReadError::FileTooLarge {
                path: path.to_owned(),
                size: bytes.len() as u64,
                limit: limits.max_file_bytes,
            });
        }
        if *total > limits.max_total_bytes {
            return Err(ReadError::TotalTooLarge {
                limit: limits.max_total_bytes,
            });
        }
        if *total > limits.ratio_grace_bytes {
            let ratio = *total / consumed.get().max(1);
            if ratio > limits.max_compression_ratio {
                return Err(ReadError::CompressionRatio {
                    ratio,
                    limit: limits.max_compression_ratio,
                });
            }
        }
    }
}

fn link(path: &str, kind: &'static str) -> ReadError {
    ReadError::LinkEntry {
        path: path.to_owned(),
        kind,
    }
}

fn device(path: &str, kind: &'static str) -> ReadError {
    ReadError::DeviceEntry {
        path: path.to_owned(),
        kind,
    }
}

/// Errors from the decoder stack surface as `io::Error`; tell gzip damage from tar damage.
fn stream_error(err: &std::io::Error) -> ReadError {
    let detail = err.to_string();
    let gzip = detail.contains("deflate")
        || detail.contains("gzip")
        || detail.contains("checksum")
        || err.kind() == std::io::ErrorKind::UnexpectedEof && detail.contains("eof");
    if gzip && !detail.contains("archive") {
        ReadError::NotGzip { detail }
    } else {
        ReadError::NotTar { detail }
    }
}
