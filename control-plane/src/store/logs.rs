//! Decision logs: batched, idempotent inserts and the monthly partitions they land in.

use std::fmt;
use std::ops::Range;

use chrono::{DateTime, Datelike as _, TimeZone as _, Utc};
use sqlx::PgExecutor;
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
    pub reasons: Vec<String>,
    /// The event's JSON text as received.
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

async fn insert_chunk<'e>(
    executor: impl PgExecutor<'e>,
    rows: &DecisionLogColumns,
    range: Range<usize>,
) -> StoreResult<u64> {
    if range.is_empty() {
        return Ok(0);
    }
    let result = sqlx::query(
        "INSERT INTO decision_logs (decision_id, ts, persona, agent_id, user_id, tool, allow,
             revision, sequence, path, reasons, event)
         SELECT d, t, p, a, u, tl, al, r, s, pa, re, e::jsonb
         FROM UNNEST($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[],
                     $6::text[], $7::bool[], $8::text[], $9::int8[], $10::text[], $11::text[],
                     $12::text[]) AS x(d, t, p, a, u, tl, al, r, s, pa, re, e)
         ON CONFLICT DO NOTHING",
    )
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
    .bind(&rows.event[range])
    .execute(executor)
    .await?;
    Ok(result.rows_affected())
}

/// Serialises partition changes across replicas (`pg_advisory_xact_lock` key).
const PARTITION_LOCK: i64 = 0x7265_6765_6e74_6c67; // "regentlg"

impl Store {
    /// Stores one batch; see [`Store::insert_decision_log_batches`].
    pub async fn insert_decision_logs(&self, rows: &DecisionLogColumns) -> StoreResult<u64> {
        Ok(self
            .insert_decision_log_batches(&[rows])
            .await?
            .iter()
            .sum())
    }

    /// Stores several batches in one transaction (one commit, one WAL flush), one statement per
    /// [`INSERT_CHUNK`] events. Events already stored (same `decision_id` and timestamp) are
    /// skipped. Returns how many events of each batch were new.
    pub async fn insert_decision_log_batches(
        &self,
        batches: &[&DecisionLogColumns],
    ) -> StoreResult<Vec<u64>> {
        let mut tx = self.pool.begin().await?;
        let mut stored = Vec::with_capacity(batches.len());
        for rows in batches {
            let mut new = 0;
            for start in (0..rows.len()).step_by(INSERT_CHUNK) {
                let end = (start + INSERT_CHUNK).min(rows.len());
                new += insert_chunk(&mut *tx, rows, start..end).await?;
            }
            stored.push(new);
        }
        tx.commit().await?;
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
