//! Decision logs: batched, idempotent inserts and the monthly partitions they land in.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::Mutex;

use chrono::{DateTime, Datelike as _, TimeZone as _, Utc};
use sha2::{Digest as _, Sha256};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{Store, StoreError, StoreResult};

/// A calendar month (UTC) of decision logs, stored in partition `decision_logs_yYYYYmMM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogMonth {
    year: i32,
    /// 1–12.
    month: u32,
}

impl LogMonth {
    pub fn of(ts: DateTime<Utc>) -> LogMonth {
        LogMonth {
            year: ts.year(),
            month: ts.month(),
        }
    }

    pub fn next(self) -> LogMonth {
        if self.month == 12 {
            LogMonth {
                year: self.year + 1,
                month: 1,
            }
        } else {
            LogMonth {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// Months since year 0, for window arithmetic.
    pub fn index(self) -> i64 {
        i64::from(self.year) * 12 + i64::from(self.month) - 1
    }

    /// Midnight UTC on the first day of the month; `None` outside chrono's range.
    pub fn start(self) -> Option<DateTime<Utc>> {
        Utc.with_ymd_and_hms(self.year, self.month, 1, 0, 0, 0)
            .single()
    }

    /// The partition's table name.
    pub fn table(self) -> String {
        format!("decision_logs_y{:04}m{:02}", self.year, self.month)
    }
}

impl fmt::Display for LogMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// A batch of decision events as columns (one entry per event), the shape `UNNEST` takes.
#[derive(Debug, Default, Clone)]
pub struct DecisionLogColumns {
    pub decision_id: Vec<Uuid>,
    pub ts: Vec<DateTime<Utc>>,
    pub persona: Vec<Option<String>>,
    pub agent_id: Vec<Option<String>>,
    pub user_id: Vec<Option<String>>,
    pub tool: Vec<Option<String>>,
    pub allow: Vec<Option<bool>>,
    pub revision: Vec<Option<String>>,
    pub sequence: Vec<Option<i64>>,
    pub path: Vec<Option<String>>,
    /// Codes and messages of the reasons, space-separated (what the audit search matches).
    pub reasons: Vec<String>,
    /// The event's JSON text as received, minified (stored as `text`: it was validated here).
    pub event: Vec<String>,
}

impl DecisionLogColumns {
    pub fn with_capacity(n: usize) -> DecisionLogColumns {
        DecisionLogColumns {
            decision_id: Vec::with_capacity(n),
            ts: Vec::with_capacity(n),
            persona: Vec::with_capacity(n),
            agent_id: Vec::with_capacity(n),
            user_id: Vec::with_capacity(n),
            tool: Vec::with_capacity(n),
            allow: Vec::with_capacity(n),
            revision: Vec::with_capacity(n),
            sequence: Vec::with_capacity(n),
            path: Vec::with_capacity(n),
            reasons: Vec::with_capacity(n),
            event: Vec::with_capacity(n),
        }
    }

    pub fn len(&self) -> usize {
        self.decision_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.decision_id.is_empty()
    }
}

/// What [`Store::ensure_log_partition`] found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionState {
    Existed,
    /// Created; `moved` rows of that month came over from the default partition.
    Created {
        moved: u64,
    },
}

/// Events per `INSERT` statement: bounds the arrays one statement carries.
pub const INSERT_CHUNK: usize = 5_000;

/// Distinct reasons texts a [`ReasonIds`] remembers before it starts over.
pub const REASON_IDS_CAPACITY: usize = 50_000;

/// Ids of reasons texts in `decision_reason_texts` (see migration `20261128000001`), so that
/// storing a decision whose reasons were seen before costs no lookup. Only ids of committed rows
/// are remembered: a rolled-back transaction leaves nothing here that a later insert could use.
#[derive(Debug)]
pub struct ReasonIds {
    ids: Mutex<HashMap<String, i64>>,
    capacity: usize,
}

impl Default for ReasonIds {
    fn default() -> ReasonIds {
        ReasonIds::with_capacity(REASON_IDS_CAPACITY)
    }
}

impl ReasonIds {
    /// A cache of at most `capacity` texts; when full it is emptied and refills from the
    /// database (a workload with more distinct texts than that only loses the shortcut).
    pub fn with_capacity(capacity: usize) -> ReasonIds {
        ReasonIds {
            ids: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// How many texts are remembered.
    pub fn len(&self) -> usize {
        self.ids.lock().map(|ids| ids.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, text: &str) -> Option<i64> {
        self.ids.lock().ok()?.get(text).copied()
    }

    fn remember(&self, resolved: HashMap<String, i64>) {
        let Ok(mut ids) = self.ids.lock() else { return };
        if ids.len() + resolved.len() > self.capacity {
            ids.clear();
        }
        ids.extend(resolved);
    }
}

/// The `reasons_id` of every row of every batch, in order. Texts the cache does not know are
/// inserted (once each, in digest order so concurrent writers wait for each other in one order
/// and cannot deadlock) or read back when another transaction stored them first. Returns the ids
/// and the texts that were looked up here, to remember once the transaction commits.
async fn resolve_reasons(
    conn: &mut PgConnection,
    batches: &[&DecisionLogColumns],
    cache: &ReasonIds,
) -> StoreResult<(Vec<Vec<i64>>, HashMap<String, i64>)> {
    // Every distinct text of the group, with its id once known (0: not yet).
    let mut ids: HashMap<&str, i64> = HashMap::new();
    let mut missing: Vec<(Vec<u8>, &str)> = Vec::new();
    for rows in batches {
        for text in &rows.reasons {
            if ids.contains_key(text.as_str()) {
                continue;
            }
            let id = cache.get(text).unwrap_or(0);
            if id == 0 {
                missing.push((Sha256::digest(text.as_bytes()).to_vec(), text));
            }
            ids.insert(text, id);
        }
    }
    let mut resolved = HashMap::new();
    if !missing.is_empty() {
        missing.sort_unstable();
        let (digests, texts): (Vec<Vec<u8>>, Vec<&str>) = missing.into_iter().unzip();
        sqlx::query(
            "INSERT INTO decision_reason_texts (digest, reasons)
             SELECT d, r FROM UNNEST($1::bytea[], $2::text[]) AS x(d, r) ORDER BY d
             ON CONFLICT (digest) DO NOTHING",
        )
        .bind(&digests)
        .bind(&texts)
        .execute(&mut *conn)
        .await?;
        let found: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, reasons FROM decision_reason_texts WHERE digest = ANY($1::bytea[])",
        )
        .bind(&digests)
        .fetch_all(&mut *conn)
        .await?;
        for (id, text) in found {
            if let Some(slot) = ids.get_mut(text.as_str()) {
                *slot = id;
                resolved.insert(text, id);
            }
        }
        if let Some(text) = texts.iter().find(|t| !resolved.contains_key(**t)) {
            return Err(StoreError::Invalid {
                detail: format!(
                    "reasons text `{}` has no id after being stored (a digest collision?)",
                    text.chars().take(80).collect::<String>()
                ),
            });
        }
    }
    let per_row = batches
        .iter()
        .map(|rows| rows.reasons.iter().map(|text| ids[text.as_str()]).collect())
        .collect();
    Ok((per_row, resolved))
}

/// How a group of batches goes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Duplicates {
    /// As new events, by one binary `COPY`: a stored event fails it with a unique violation.
    /// The common case (every event new) then costs no speculative insertion, and PostgreSQL
    /// writes the rows a page at a time (one heap WAL record per page instead of per row)
    /// without the executor's per-row work of an `INSERT … SELECT`.
    Fail,
    /// `INSERT … ON CONFLICT DO NOTHING`, [`INSERT_CHUNK`] events per statement: stored events
    /// are skipped.
    Skip,
}

/// The insert of one chunk, skipping stored events.
const INSERT_DECISION_LOGS: &str = "INSERT INTO decision_logs (decision_id, ts, persona, \
     agent_id, user_id, tool, allow, revision, sequence, path, reasons, reasons_id, event)
     SELECT d, t, p, a, u, tl, al, r, s, pa, re, ri, e
     FROM UNNEST($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[],
                 $6::text[], $7::bool[], $8::text[], $9::int8[], $10::text[], $11::text[],
                 $12::int8[], $13::text[]) AS x(d, t, p, a, u, tl, al, r, s, pa, re, ri, e)
     ON CONFLICT DO NOTHING";

async fn insert_chunk<'e>(
    executor: impl PgExecutor<'e>,
    rows: &DecisionLogColumns,
    reasons_ids: &[i64],
    range: Range<usize>,
) -> StoreResult<u64> {
    if range.is_empty() {
        return Ok(0);
    }
    let result = sqlx::query(INSERT_DECISION_LOGS)
        .bind(&rows.decision_id[range.clone()])
        .bind(&rows.ts[range.clone()])
        .bind(&rows.persona[range.clone()])
        .bind(&rows.agent_id[range.clone()])
        .bind(&rows.user_id[range.clone()])
        .bind(&rows.tool[range.clone()])
        .bind(&rows.allow[range.clone()])
        .bind(&rows.revision[range.clone()])
        .bind(&rows.sequence[range.clone()])
        .bind(&rows.path[range.clone()])
        .bind(&rows.reasons[range.clone()])
        .bind(&reasons_ids[range.clone()])
        .bind(&rows.event[range])
        .execute(executor)
        .await?;
    Ok(result.rows_affected())
}

/// The columns [`copy_binary`] writes, in its order.
const COPY_DECISION_LOGS: &str = "COPY decision_logs (decision_id, ts, persona, agent_id, user_id, \
     tool, allow, revision, sequence, path, reasons, reasons_id, event) FROM STDIN (FORMAT binary)";

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// `batches` in PostgreSQL's binary `COPY` format (header, one tuple of the
/// [`COPY_DECISION_LOGS`] columns per event, trailer): `uuid` as its 16 bytes, `timestamptz`
/// as microseconds since 2000-01-01 UTC, `text` as its UTF-8 bytes, `bool` as one byte,
/// `bigint` big-endian, NULL as length −1.
fn copy_binary(batches: &[&DecisionLogColumns], reasons_ids: &[Vec<i64>]) -> Vec<u8> {
    fn field(out: &mut Vec<u8>, bytes: &[u8]) {
        // An event is bounded far below 2 GiB (limits.max_body_bytes).
        out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    fn null(out: &mut Vec<u8>) {
        out.extend_from_slice(&(-1i32).to_be_bytes());
    }
    fn text(out: &mut Vec<u8>, value: &Option<String>) {
        match value {
            Some(value) => field(out, value.as_bytes()),
            None => null(out),
        }
    }
    let size: usize = batches
        .iter()
        .flat_map(|rows| rows.event.iter().chain(&rows.reasons))
        .map(|s| s.len() + 64)
        .sum();
    let mut out = Vec::with_capacity(size + 32);
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&0i32.to_be_bytes()); // flags: no OIDs
    out.extend_from_slice(&0i32.to_be_bytes()); // no header extension
    for (rows, ids) in batches.iter().zip(reasons_ids) {
        for (i, reasons_id) in ids.iter().enumerate().take(rows.len()) {
            out.extend_from_slice(&13i16.to_be_bytes());
            field(&mut out, rows.decision_id[i].as_bytes());
            let micros = rows.ts[i].timestamp_micros() - PG_EPOCH_MICROS;
            field(&mut out, &micros.to_be_bytes());
            text(&mut out, &rows.persona[i]);
            text(&mut out, &rows.agent_id[i]);
            text(&mut out, &rows.user_id[i]);
            text(&mut out, &rows.tool[i]);
            match rows.allow[i] {
                Some(allow) => field(&mut out, &[u8::from(allow)]),
                None => null(&mut out),
            }
            text(&mut out, &rows.revision[i]);
            match rows.sequence[i] {
                Some(sequence) => field(&mut out, &sequence.to_be_bytes()),
                None => null(&mut out),
            }
            text(&mut out, &rows.path[i]);
            field(&mut out, rows.reasons[i].as_bytes());
            field(&mut out, &reasons_id.to_be_bytes());
            field(&mut out, rows.event[i].as_bytes());
        }
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

/// [`Duplicates::Fail`]: the group as one binary `COPY`; every event is new, so each batch
/// stored all of its events.
async fn copy_new(
    conn: &mut PgConnection,
    batches: &[&DecisionLogColumns],
    reasons_ids: &[Vec<i64>],
) -> StoreResult<Vec<u64>> {
    let mut copy = conn.copy_in_raw(COPY_DECISION_LOGS).await?;
    if let Err(e) = copy.send(copy_binary(batches, reasons_ids)).await {
        copy.abort("decision-log copy failed").await.ok();
        return Err(e.into());
    }
    let copied = copy.finish().await?;
    let stored: Vec<u64> = batches.iter().map(|rows| rows.len() as u64).collect();
    let events: u64 = stored.iter().sum();
    if copied != events {
        return Err(StoreError::Invalid {
            detail: format!("COPY stored {copied} decision events of {events}"),
        });
    }
    Ok(stored)
}

/// [`Duplicates::Skip`]: each batch by `INSERT … ON CONFLICT DO NOTHING`, [`INSERT_CHUNK`]
/// events per statement; how many events of each batch were new.
async fn insert_skipping_stored(
    conn: &mut PgConnection,
    batches: &[&DecisionLogColumns],
    reasons_ids: &[Vec<i64>],
) -> StoreResult<Vec<u64>> {
    let mut stored = Vec::with_capacity(batches.len());
    for (rows, ids) in batches.iter().zip(reasons_ids) {
        let mut new = 0;
        for start in (0..rows.len()).step_by(INSERT_CHUNK) {
            let end = (start + INSERT_CHUNK).min(rows.len());
            new += insert_chunk(&mut *conn, rows, ids, start..end).await?;
        }
        stored.push(new);
    }
    Ok(stored)
}

/// Serialises partition changes across replicas (`pg_advisory_xact_lock` key).
const PARTITION_LOCK: i64 = 0x7265_6765_6e74_6c67; // "regentlg"

impl Store {
    /// Stores one batch; see [`Store::insert_decision_log_batches`].
    pub async fn insert_decision_logs(
        &self,
        rows: &DecisionLogColumns,
        reasons: &ReasonIds,
    ) -> StoreResult<u64> {
        Ok(self
            .insert_decision_log_batches(&[rows], reasons)
            .await?
            .iter()
            .sum())
    }

    /// Stores several batches in one transaction (one commit, one WAL flush). Events already
    /// stored (same `decision_id` and timestamp) are skipped: the group is first copied in as
    /// new events (one binary `COPY`; no speculative insertion, which costs a unique-index probe
    /// and an extra WAL record per event); if one was stored before, that attempt rolls back and
    /// the group is inserted again with `ON CONFLICT DO NOTHING`, one statement per
    /// [`INSERT_CHUNK`] events. Reasons texts new to `reasons` are stored in the same
    /// transaction. Returns how many events of each batch were new.
    pub async fn insert_decision_log_batches(
        &self,
        batches: &[&DecisionLogColumns],
        reasons: &ReasonIds,
    ) -> StoreResult<Vec<u64>> {
        match self
            .try_insert_batches(batches, reasons, Duplicates::Fail)
            .await
        {
            // Some event was stored before (a resend after a lost acknowledgement, or twice in
            // the group): nothing of this attempt was committed, so store the group again,
            // skipping what is there.
            Err(StoreError::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                tracing::debug!(
                    batches = batches.len(),
                    "decision-log group holds stored events; inserting it again, skipping those"
                );
                self.try_insert_batches(batches, reasons, Duplicates::Skip)
                    .await
            }
            result => result,
        }
    }

    async fn try_insert_batches(
        &self,
        batches: &[&DecisionLogColumns],
        reasons: &ReasonIds,
        duplicates: Duplicates,
    ) -> StoreResult<Vec<u64>> {
        let mut tx = self.pool.begin().await?;
        let (reasons_ids, resolved) = resolve_reasons(&mut tx, batches, reasons).await?;
        // On an error the transaction rolls back when dropped: nothing of the group is stored.
        let stored = match duplicates {
            Duplicates::Fail => copy_new(&mut tx, batches, &reasons_ids).await?,
            Duplicates::Skip => insert_skipping_stored(&mut tx, batches, &reasons_ids).await?,
        };
        tx.commit().await?;
        reasons.remember(resolved);
        Ok(stored)
    }

    /// Creates the partition for `month` unless it exists. Rows of that month already in the
    /// default partition would block `CREATE TABLE … PARTITION OF`, so they are moved into the
    /// new partition in the same transaction.
    pub async fn ensure_log_partition(&self, month: LogMonth) -> StoreResult<PartitionState> {
        let (Some(from), Some(to)) = (month.start(), month.next().start()) else {
            return Err(StoreError::Invalid {
                detail: format!("month {month} is outside the supported range"),
            });
        };
        if !(1..=9998).contains(&month.year) {
            return Err(StoreError::Invalid {
                detail: format!("month {month} is outside years 1–9998"),
            });
        }
        let table = month.table();
        let mut tx = self.pool.begin().await?;
        sqlx::query!("SELECT pg_advisory_xact_lock($1)", PARTITION_LOCK)
            .execute(&mut *tx)
            .await?;
        let exists =
            sqlx::query_scalar!(r#"SELECT to_regclass($1) IS NOT NULL AS "exists!""#, table)
                .fetch_one(&mut *tx)
                .await?;
        if exists {
            tx.commit().await?;
            return Ok(PartitionState::Existed);
        }
        sqlx::query("CREATE TEMP TABLE regent_moved_logs (LIKE decision_logs) ON COMMIT DROP")
            .execute(&mut *tx)
            .await?;
        let moved = sqlx::query(
            "WITH moved AS (DELETE FROM decision_logs_default WHERE ts >= $1 AND ts < $2 RETURNING *)
             INSERT INTO regent_moved_logs SELECT * FROM moved",
        )
        .bind(from)
        .bind(to)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Safe to splice: the name and bounds are built from integers (DDL takes no parameters).
        let bound = |t: DateTime<Utc>| t.format("%Y-%m-%d 00:00:00+00").to_string();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE \"{table}\" PARTITION OF decision_logs FOR VALUES FROM ('{}') TO ('{}')",
            bound(from),
            bound(to)
        )))
        .execute(&mut *tx)
        .await?;
        if moved > 0 {
            sqlx::query("INSERT INTO decision_logs SELECT * FROM regent_moved_logs")
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        tracing::info!(partition = %table, moved, "created decision-log partition");
        Ok(PartitionState::Created { moved })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_roll_over_the_year_and_name_their_partition() {
        let dec = LogMonth::of(Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap());
        assert_eq!(dec.table(), "decision_logs_y2026m12");
        assert_eq!(dec.next().table(), "decision_logs_y2027m01");
        assert_eq!(dec.next().index() - dec.index(), 1);
        assert_eq!(
            dec.next().start(),
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).single()
        );
    }
}
