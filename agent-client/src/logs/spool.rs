//! The disk spool: append-only segment files of length-prefixed records, one record per event (its JSON).
//!
//! Layout: `<dir>/<20-digit id>.seg`, ids increasing, so a directory listing is delivery order. A record is a
//! little-endian `u32` length then that many bytes of JSON. A torn tail (a kill mid-write) is detected by its
//! length running past the end of the file and ignored.
//!
//! Durability: [`Spool::append`] with `sync` (the shipper spooling a batch, and the shutdown flush) calls
//! `fdatasync` before returning, and a new segment's directory entry is synced too. Spills from `decide` when
//! the memory queue is full are written without a sync (they must not wait for the disk) and synced by the
//! shipper within one flush interval; a process kill loses nothing already written, a power loss can lose
//! that last interval of spills.
//!
//! Cap: when the spool passes `max_bytes`, the oldest segments not being delivered are deleted and their
//! events counted as `decision_logs_dropped_spool_size_limit_exceeded`.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use super::LogCounters;

/// Longest record accepted when reading (a corrupted length is not allowed to allocate gigabytes).
const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug)]
struct Segment {
    id: u64,
    bytes: u64,
    events: u64,
    /// Checked out by the shipper; not evicted while delivering.
    in_flight: bool,
}

#[derive(Debug)]
struct Inner {
    segments: VecDeque<Segment>,
    /// The segment accepting appends (always the newest), with its file.
    writer: Option<(u64, File)>,
    next_id: u64,
    /// Appends since the last sync.
    dirty: bool,
}

/// A spool for one persona's decision events.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    counters: Arc<LogCounters>,
    inner: Mutex<Inner>,
}

/// A segment's records, checked out for delivery.
#[derive(Debug)]
pub struct CheckedOut {
    pub id: u64,
    pub records: Vec<Vec<u8>>,
}

impl Spool {
    /// Opens (creating) `dir` and indexes the segments a previous run left.
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        segment_bytes: u64,
        counters: Arc<LogCounters>,
    ) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        let mut ids: Vec<u64> = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".seg").and_then(|s| s.parse().ok()) {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        let mut segments = VecDeque::new();
        for id in &ids {
            let path = segment_path(dir, *id);
            let bytes = fs::read(&path)?;
            let (records, _) = parse_records(&bytes);
            segments.push_back(Segment {
                id: *id,
                bytes: bytes.len() as u64,
                events: records.len() as u64,
                in_flight: false,
            });
        }
        let spool = Spool {
            dir: dir.to_path_buf(),
            max_bytes,
            segment_bytes: segment_bytes.max(1),
            counters,
            inner: Mutex::new(Inner {
                segments,
                writer: None,
                next_id: ids.last().map_or(1, |last| last + 1),
                dirty: false,
            }),
        };
        spool.publish_totals(&spool.lock());
        Ok(spool)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the index worse than the files; keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends `records` (event JSON) as one write; `sync` waits for the disk.
    pub fn append(&self, records: &[Vec<u8>], sync: bool) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut buffer = Vec::with_capacity(records.iter().map(|r| r.len() + 4).sum());
        for record in records {
            let len = u32::try_from(record.len())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "record over 4 GiB"))?;
            buffer.extend_from_slice(&len.to_le_bytes());
            buffer.extend_from_slice(record);
        }
        let mut inner = self.lock();
        let rotate = match (&inner.writer, inner.segments.back()) {
            (Some((id, _)), Some(last)) => last.id != *id || last.bytes >= self.segment_bytes,
            _ => true,
        };
        let mut new_segment = false;
        if rotate {
            self.close_writer(&mut inner)?;
            let id = inner.next_id;
            inner.next_id += 1;
            let file = OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(segment_path(&self.dir, id))?;
            inner.writer = Some((id, file));
            inner.segments.push_back(Segment {
                id,
                bytes: 0,
                events: 0,
                in_flight: false,
            });
            new_segment = true;
        }
        if let Some((_, file)) = inner.writer.as_mut() {
            file.write_all(&buffer)?;
            if sync {
                file.sync_data()?;
            }
        }
        if new_segment && sync {
            sync_dir(&self.dir)?;
        }
        inner.dirty = !sync;
        if let Some(last) = inner.segments.back_mut() {
            last.bytes += buffer.len() as u64;
            last.events += records.len() as u64;
        }
        self.evict(&mut inner);
        self.publish_totals(&inner);
        Ok(())
    }

    /// Syncs unsynced appends (spills from `decide`).
    pub fn sync(&self) -> io::Result<()> {
        let mut inner = self.lock();
        if inner.dirty {
            if let Some((_, file)) = inner.writer.as_mut() {
                file.sync_data()?;
            }
            sync_dir(&self.dir)?;
            inner.dirty = false;
        }
        Ok(())
    }

    fn close_writer(&self, inner: &mut Inner) -> io::Result<()> {
        if let Some((_, file)) = inner.writer.take()
            && inner.dirty
        {
            file.sync_data()?;
            inner.dirty = false;
        }
        Ok(())
    }

    /// Deletes the oldest segments that are not being delivered until the spool fits its cap.
    fn evict(&self, inner: &mut Inner) {
        let mut total: u64 = inner.segments.iter().map(|s| s.bytes).sum();
        while total > self.max_bytes {
            let writer = inner.writer.as_ref().map(|(id, _)| *id);
            let Some(index) = inner.segments.iter().position(|s| !s.in_flight) else {
                return;
            };
            // The only evictable segment is the one being written: start a new one so it can go.
            if Some(inner.segments[index].id) == writer {
                if inner.segments.len() == 1 || index + 1 == inner.segments.len() {
                    inner.writer = None;
                } else {
                    return;
                }
            }
            let Some(segment) = inner.segments.remove(index) else {
                return;
            };
            total -= segment.bytes;
            let _ = fs::remove_file(segment_path(&self.dir, segment.id));
            self.counters
                .dropped_spool
                .fetch_add(segment.events, Ordering::Relaxed);
            tracing::warn!(
                events = segment.events,
                bytes = segment.bytes,
                "decision-log spool is full; dropped its oldest segment"
            );
        }
    }

    fn publish_totals(&self, inner: &Inner) {
        let (bytes, events) = inner
            .segments
            .iter()
            .fold((0, 0), |(b, e), s| (b + s.bytes, e + s.events));
        self.counters.spool_bytes.store(bytes, Ordering::Relaxed);
        self.counters.spool_events.store(events, Ordering::Relaxed);
    }

    /// Whether anything is spooled.
    pub fn is_empty(&self) -> bool {
        self.lock().segments.iter().all(|s| s.events == 0)
    }

    /// Reads the oldest segment for delivery (closing it for appends if it is the one being written).
    pub fn checkout_oldest(&self) -> io::Result<Option<CheckedOut>> {
        let mut inner = self.lock();
        let Some(first) = inner.segments.front() else {
            return Ok(None);
        };
        let id = first.id;
        if inner.writer.as_ref().is_some_and(|(w, _)| *w == id) {
            self.close_writer(&mut inner)?;
        }
        let bytes = match fs::read(segment_path(&self.dir, id)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let (records, torn) = parse_records(&bytes);
        if torn {
            tracing::warn!(
                segment = id,
                "spool segment has a torn tail (killed mid-write); ignoring the partial record"
            );
        }
        if let Some(segment) = inner.segments.front_mut() {
            segment.in_flight = true;
        }
        Ok(Some(CheckedOut { id, records }))
    }

    /// The checked-out segment was delivered: delete it.
    pub fn complete(&self, id: u64) -> io::Result<()> {
        let mut inner = self.lock();
        inner.segments.retain(|s| s.id != id);
        match fs::remove_file(segment_path(&self.dir, id)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        self.publish_totals(&inner);
        Ok(())
    }

    /// Delivery of the checked-out segment stopped: it becomes evictable again.
    pub fn release(&self, id: u64) {
        let mut inner = self.lock();
        if let Some(segment) = inner.segments.iter_mut().find(|s| s.id == id) {
            segment.in_flight = false;
        }
    }

    /// Moves a refused batch (a gzip'd JSON array) aside to `<dir>/poison/`, for an operator to inspect.
    pub fn quarantine(&self, body: &[u8], status: u16) -> io::Result<PathBuf> {
        let dir = self.dir.join("poison");
        fs::create_dir_all(&dir)?;
        let name = format!(
            "{}-{status}-{}.json.gz",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.fZ"),
            uuid::Uuid::now_v7()
        );
        let path = dir.join(name);
        write_synced(&path, body)?;
        Ok(path)
    }
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

/// Splits a segment into records; `true` when a partial record was found at the end.
pub fn parse_records(bytes: &[u8]) -> (Vec<Vec<u8>>, bool) {
    let mut records = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let Some(header) = bytes.get(at..at + 4) else {
            return (records, true);
        };
        let mut len = [0u8; 4];
        len.copy_from_slice(header);
        let len = u32::from_le_bytes(len) as usize;
        let start = at + 4;
        let Some(end) = start.checked_add(len).filter(|e| *e <= bytes.len()) else {
            return (records, true);
        };
        if len > MAX_RECORD_BYTES {
            return (records, true);
        }
        records.push(bytes[start..end].to_vec());
        at = end;
    }
    (records, false)
}

/// Writes `bytes` to `path` atomically: temp file, fsync, rename, fsync of the directory.
pub fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn spool(dir: &Path, max: u64, segment: u64) -> (Spool, Arc<LogCounters>) {
        let counters = Arc::new(LogCounters::default());
        (
            Spool::open(dir, max, segment, counters.clone()).unwrap(),
            counters,
        )
    }

    #[test]
    fn records_survive_reopen_in_order_and_torn_tails_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (s, c) = spool(dir.path(), 1 << 20, 64);
            s.append(&[b"{\"a\":1}".to_vec(), b"{\"a\":2}".to_vec()], true)
                .unwrap();
            s.append(&[b"{\"a\":3}".to_vec()], false).unwrap();
            s.append(&[b"{\"a\":4}".to_vec()], true).unwrap();
            assert_eq!(c.spool_events.load(Ordering::Relaxed), 4);
        }
        // A kill mid-write leaves a length with fewer bytes behind it.
        let mut segs: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        segs.sort();
        let mut f = OpenOptions::new()
            .append(true)
            .open(segs.last().unwrap())
            .unwrap();
        f.write_all(&[200, 0, 0, 0, b'{']).unwrap();
        let (s, c) = spool(dir.path(), 1 << 20, 64);
        assert_eq!(c.spool_events.load(Ordering::Relaxed), 4);
        let mut seen = Vec::new();
        while let Some(out) = s.checkout_oldest().unwrap() {
            seen.extend(
                out.records
                    .iter()
                    .map(|r| String::from_utf8(r.clone()).unwrap()),
            );
            s.complete(out.id).unwrap();
        }
        assert_eq!(seen, ["{\"a\":1}", "{\"a\":2}", "{\"a\":3}", "{\"a\":4}"]);
        assert!(s.is_empty());
    }

    #[test]
    fn the_cap_drops_oldest_segments_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let (s, c) = spool(dir.path(), 100, 30);
        for i in 0..10 {
            s.append(&[format!("{{\"event\":{i:04}}}").into_bytes()], true)
                .unwrap();
        }
        let dropped = c.dropped_spool.load(Ordering::Relaxed);
        assert!(dropped > 0);
        assert!(c.spool_bytes.load(Ordering::Relaxed) <= 100);
        let first = s.checkout_oldest().unwrap().unwrap();
        assert_eq!(
            first.records[0],
            format!("{{\"event\":{dropped:04}}}").into_bytes()
        );
    }
}
