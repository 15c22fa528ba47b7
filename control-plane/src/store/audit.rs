//! Reading decision logs for the audit browser: filtered pages in keyset order, one decision by
//! id, and the batches an export streams.
//!
//! Every list is ordered newest first by `(ts DESC, decision_id DESC)` — a total order, since
//! `decision_id` is unique — and continues from a [`Keyset`] rather than an offset, so page 10,000
//! costs what page 1 costs. The filters are optional, so the SQL is assembled per request
//! (`QueryBuilder`; every value is a bind parameter) and sent unprepared: each execution is
//! planned with its actual values, which is what lets the planner choose between the
//! `(column key, ts, decision_id)` indexes (`migrations/*_audit.up.sql`; ascending since
//! `*_ingest_cost_2.up.sql`, read backwards for newest first; keyed by a hash of the column
//! since `*_ingest_cost_3.up.sql`) and the trigram index. A generic plan for a persona cannot
//! know whether it is rare.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::{Store, StoreError, StoreResult};

/// Which decisions to list. `None` means "any"; all given filters must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecisionFilter {
    pub persona: Option<String>,
    pub agent_id: Option<String>,
    pub user_id: Option<String>,
    pub tool: Option<String>,
    pub allow: Option<bool>,
    pub revision: Option<String>,
    /// Inclusive lower bound.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound.
    pub to: Option<DateTime<Utc>>,
    /// Case-insensitive substring of the reasons text.
    pub reasons_contain: Option<String>,
}

/// A position in the `(ts DESC, decision_id DESC)` order: the last row of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyset {
    pub ts: DateTime<Utc>,
    pub decision_id: Uuid,
}

/// Which side of a [`Keyset`] to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Rows after the keyset in list order (older): the next page.
    Older,
    /// Rows before it (newer): the previous page.
    Newer,
}

/// A decision as the list shows it (no event document).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct DecisionSummary {
    pub decision_id: Uuid,
    pub ts: DateTime<Utc>,
    pub persona: Option<String>,
    pub agent_id: Option<String>,
    pub user_id: Option<String>,
    pub tool: Option<String>,
    pub allow: Option<bool>,
    pub revision: Option<String>,
    pub sequence: Option<i64>,
    pub path: Option<String>,
    pub reasons: String,
}

impl DecisionSummary {
    pub fn keyset(&self) -> Keyset {
        Keyset {
            ts: self.ts,
            decision_id: self.decision_id,
        }
    }
}

/// One stored decision with its event document.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRecord {
    pub summary: DecisionSummary,
    pub received_at: DateTime<Utc>,
    pub event: Value,
}

/// A decision as [`Store::decision`] reads it.
#[derive(sqlx::FromRow)]
struct StoredDecision {
    #[sqlx(flatten)]
    summary: DecisionSummary,
    received_at: DateTime<Utc>,
    event: String,
}

/// A decision as an export writes it: the summary and the event's JSON text.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ExportRow {
    #[sqlx(flatten)]
    pub summary: DecisionSummary,
    /// `event` as JSON text (as received, minified at ingest: one line), written to JSON Lines
    /// without re-parsing.
    pub event: String,
}

const SUMMARY_COLUMNS: &str = "decision_id, ts, persona, agent_id, user_id, tool, allow, \
                               revision, sequence, path, reasons";

/// Escapes `%`, `_` and `\` so user text matches literally inside `ILIKE '%…%'`.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A reasons search matching at most this many distinct reasons texts names them by id in the
/// page query; one matching more (a common word) filters the decisions' own `reasons` column.
pub const REASON_IDS_INLINE: usize = 1_000;

/// How a page query reaches the decisions whose reasons contain the searched text (distinct
/// texts live in `decision_reason_texts`; migration 20261128000001).
#[derive(Debug, Clone, PartialEq)]
enum ReasonsMatch {
    /// The ids of every matching text (at most [`REASON_IDS_INLINE`]), looked up first. With
    /// the ids as values the planner sees how rare they are: a rare text is read through
    /// `(reasons_id, ts, decision_id)`, a common one by the time index with a filter.
    Ids(Vec<i64>),
    /// Many texts match (a common word): the decision's own `reasons` column is matched as a
    /// filter while the index of the other filters (or the time index) is read in list order,
    /// so a page stops after a few rows. A semi-join on the texts instead made the planner
    /// probe `reasons_id` once per matching text (1.2 s over 10M decisions).
    Pattern(String),
}

/// Where a page query compares the text filters (persona, agent, user, tool, revision) once
/// their hash keys have selected the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextCheck {
    /// On the rows read ([`DecisionFilter::admits`]); if one differs, the page is read again
    /// with [`TextCheck::InQuery`]. The first n rows with the key are the first n with the text
    /// whenever all of them have the text, so this is exact. It exists for the planner: given
    /// both `key = …` and `text = …` it multiplies their selectivities, estimates one row per
    /// partition where there are thousands (the two are one condition), and reads every row of
    /// the value to sort them (4.7 ms instead of 0.2 ms for a user with 4,000 of 10M decisions;
    /// BENCHMARKS.md, "Audit browser").
    Rows,
    /// In the query: exact whatever the hashes; used only after a hash matched another text.
    InQuery,
}

impl DecisionFilter {
    /// Whether `row` has every text this filter asks for (its other conditions are the
    /// query's).
    pub fn admits(&self, row: &DecisionSummary) -> bool {
        [
            (&self.persona, &row.persona),
            (&self.agent_id, &row.agent_id),
            (&self.user_id, &row.user_id),
            (&self.tool, &row.tool),
            (&self.revision, &row.revision),
        ]
        .into_iter()
        .all(|(wanted, have)| wanted.is_none() || wanted == have)
    }
}

/// `SELECT <columns> FROM decision_logs WHERE <filter> [AND keyset] ORDER BY … LIMIT n`.
/// Rows always come back newest first, for both directions.
///
/// The persona, agent, user, tool and revision indexes are keyed by `hashtextextended(column,
/// 0)` (migration `20261207000002`), so each of these filters is a key condition, which the
/// index answers, and a text comparison, which drops another text with the same hash: in the
/// query ([`TextCheck::InQuery`]) or on the rows read ([`TextCheck::Rows`]). A persona without a
/// verdict is the merge of its three verdicts' reads (`allow` true, false, null): its only index
/// is `(persona key, allow, ts, decision_id)`, which is in list order within one verdict.
fn page_query(
    explain: bool,
    columns: &str,
    filter: &DecisionFilter,
    reasons: Option<&ReasonsMatch>,
    after: Option<(Keyset, Direction)>,
    limit: i64,
    check: TextCheck,
) -> QueryBuilder<Postgres> {
    let mut q = QueryBuilder::new(if explain {
        "EXPLAIN (ANALYZE, BUFFERS) "
    } else {
        ""
    });
    let order = match after.map(|(_, direction)| direction) {
        Some(Direction::Newer) => " ORDER BY ts ASC, decision_id ASC LIMIT ",
        Some(Direction::Older) | None => " ORDER BY ts DESC, decision_id DESC LIMIT ",
    };
    if filter.persona.is_some() && filter.allow.is_none() {
        q.push(format_args!("SELECT {columns} FROM ("));
        for (i, verdict) in ["allow = TRUE", "allow = FALSE", "allow IS NULL"]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                q.push(" UNION ALL ");
            }
            q.push(format_args!(
                "(SELECT {columns} FROM decision_logs WHERE {verdict}"
            ));
            push_conditions(&mut q, filter, reasons, after, check);
            q.push(order).push_bind(limit).push(")");
        }
        q.push(") AS verdicts");
    } else {
        q.push(format_args!(
            "SELECT {columns} FROM decision_logs WHERE TRUE"
        ));
        if let Some(allow) = filter.allow {
            q.push(" AND allow = ").push_bind(allow);
        }
        push_conditions(&mut q, filter, reasons, after, check);
    }
    q.push(order).push_bind(limit);
    q
}

/// ` AND …` for every filter but the verdict, and for the keyset.
fn push_conditions(
    q: &mut QueryBuilder<Postgres>,
    filter: &DecisionFilter,
    reasons: Option<&ReasonsMatch>,
    after: Option<(Keyset, Direction)>,
    check: TextCheck,
) {
    let text_filters = [
        ("persona", &filter.persona),
        ("agent_id", &filter.agent_id),
        ("user_id", &filter.user_id),
        ("tool", &filter.tool),
        ("revision", &filter.revision),
    ];
    for (column, value) in text_filters {
        if let Some(value) = value {
            q.push(format_args!(
                " AND hashtextextended({column}, 0) = hashtextextended("
            ))
            .push_bind(value.clone())
            .push(", 0)");
            if check == TextCheck::InQuery {
                q.push(format_args!(" AND {column} = "))
                    .push_bind(value.clone());
            }
        }
    }
    if let Some(from) = filter.from {
        q.push(" AND ts >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        q.push(" AND ts < ").push_bind(to);
    }
    match reasons {
        Some(ReasonsMatch::Ids(ids)) => {
            q.push(" AND reasons_id = ANY(")
                .push_bind(ids.clone())
                .push(")");
        }
        Some(ReasonsMatch::Pattern(pattern)) => {
            q.push(" AND reasons ILIKE ").push_bind(pattern.clone());
        }
        None => {}
    }
    // The row comparison matches the indexes' trailing `(ts, decision_id)`, so it is an index
    // condition, not a filter.
    if let Some((keyset, direction)) = after {
        let op = match direction {
            Direction::Older => "<",
            Direction::Newer => ">",
        };
        q.push(format_args!(" AND (ts, decision_id) {op} ("))
            .push_bind(keyset.ts)
            .push(", ")
            .push_bind(keyset.decision_id)
            .push(")");
    }
}

impl Store {
    /// The reasons texts a search matches (trigram index on `decision_reason_texts`): their
    /// ids when there are few, else the pattern to match inside the page query.
    async fn reasons_match(&self, filter: &DecisionFilter) -> StoreResult<Option<ReasonsMatch>> {
        let Some(text) = &filter.reasons_contain else {
            return Ok(None);
        };
        let pattern = like_pattern(text);
        // The trigram index cannot serve fewer than three characters; such a word is common.
        if text.chars().count() < 3 {
            return Ok(Some(ReasonsMatch::Pattern(pattern)));
        }
        // Through the trigram index, always: its cost grows with the matching texts only. A
        // sequential scan with LIMIT looks cheaper to the planner for a common word, but where
        // it starts (synchronised scans) and where the matches lie decide whether it reads a few
        // pages or the whole table (1.4 s over 1M texts in the benchmark).
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET LOCAL enable_seqscan = off")
            .execute(&mut *tx)
            .await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM decision_reason_texts WHERE reasons ILIKE $1 LIMIT $2",
        )
        .bind(&pattern)
        .bind(REASON_IDS_INLINE as i64 + 1)
        .persistent(false)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(if ids.len() > REASON_IDS_INLINE {
            ReasonsMatch::Pattern(pattern)
        } else {
            ReasonsMatch::Ids(ids)
        }))
    }

    /// Up to `limit` rows matching `filter` in list order on the given side of `after`, read
    /// with the text filters compared as `first` says; after [`TextCheck::Rows`] found a row
    /// with another text under the same hash, read again with [`TextCheck::InQuery`].
    async fn page_rows<R>(
        &self,
        columns: &str,
        filter: &DecisionFilter,
        after: Option<(Keyset, Direction)>,
        limit: i64,
        first: TextCheck,
        summary: fn(&R) -> &DecisionSummary,
    ) -> StoreResult<Vec<R>>
    where
        R: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
    {
        let reasons = self.reasons_match(filter).await?;
        let query = |check| {
            page_query(
                false,
                columns,
                filter,
                reasons.as_ref(),
                after,
                limit,
                check,
            )
        };
        let mut q = query(first);
        let rows: Vec<R> = q
            .build_query_as()
            .persistent(false)
            .fetch_all(&self.pool)
            .await?;
        if first == TextCheck::InQuery || rows.iter().all(|row| filter.admits(summary(row))) {
            return Ok(rows);
        }
        tracing::warn!(
            "a decision filter's hash key matched another text; reading the page again with the \
             texts compared in the query"
        );
        let mut q = query(TextCheck::InQuery);
        Ok(q.build_query_as()
            .persistent(false)
            .fetch_all(&self.pool)
            .await?)
    }

    /// A page of decisions newest first ([`Store::page_rows`]).
    async fn summaries(
        &self,
        filter: &DecisionFilter,
        after: Option<(Keyset, Direction)>,
        limit: i64,
        first: TextCheck,
    ) -> StoreResult<Vec<DecisionSummary>> {
        let mut rows = self
            .page_rows(SUMMARY_COLUMNS, filter, after, limit, first, |row| row)
            .await?;
        if matches!(after, Some((_, Direction::Newer))) {
            rows.reverse();
        }
        Ok(rows)
    }

    /// Up to `limit` decisions matching `filter`, newest first, on the given side of `after`
    /// (from the newest when `None`).
    pub async fn decision_page(
        &self,
        filter: &DecisionFilter,
        after: Option<(Keyset, Direction)>,
        limit: i64,
    ) -> StoreResult<Vec<DecisionSummary>> {
        self.summaries(filter, after, limit, TextCheck::Rows).await
    }

    /// [`Store::decision_page`] as it reads a page after a hash key matched another text: the
    /// texts compared in the query. For tests, and for checking a page by hand.
    pub async fn decision_page_comparing_texts_in_query(
        &self,
        filter: &DecisionFilter,
        after: Option<(Keyset, Direction)>,
        limit: i64,
    ) -> StoreResult<Vec<DecisionSummary>> {
        self.summaries(filter, after, limit, TextCheck::InQuery)
            .await
    }

    /// `EXPLAIN (ANALYZE, BUFFERS)` of the query [`Store::decision_page`] runs, one string per
    /// plan line: for the benchmark, and for finding out why a filter is slow on a real database.
    pub async fn explain_decision_page(
        &self,
        filter: &DecisionFilter,
        after: Option<(Keyset, Direction)>,
        limit: i64,
    ) -> StoreResult<Vec<String>> {
        let reasons = self.reasons_match(filter).await?;
        Ok(page_query(
            true,
            SUMMARY_COLUMNS,
            filter,
            reasons.as_ref(),
            after,
            limit,
            TextCheck::Rows,
        )
        .build_query_scalar()
        .persistent(false)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The next export batch: up to `limit` decisions older than `after`, with their events.
    pub async fn decision_export_batch(
        &self,
        filter: &DecisionFilter,
        after: Option<Keyset>,
        limit: i64,
    ) -> StoreResult<Vec<ExportRow>> {
        let columns = format!("{SUMMARY_COLUMNS}, event");
        self.page_rows(
            &columns,
            filter,
            after.map(|k| (k, Direction::Older)),
            limit,
            TextCheck::Rows,
            |row: &ExportRow| &row.summary,
        )
        .await
    }

    /// One decision by id, whichever partition holds it (the primary key leads with
    /// `decision_id`, so each partition answers from its index).
    pub async fn decision(&self, decision_id: Uuid) -> StoreResult<Option<DecisionRecord>> {
        let row: Option<StoredDecision> = sqlx::query_as(
            "SELECT decision_id, ts, persona, agent_id, user_id, tool, allow, revision, sequence,
                    path, reasons, received_at, event
             FROM decision_logs WHERE decision_id = $1
             ORDER BY ts DESC LIMIT 1",
        )
        .bind(decision_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        // Ingest stored only events it had parsed; anything else was written around it.
        let event = serde_json::from_str(&row.event).map_err(|e| StoreError::Invalid {
            detail: format!("the stored event of decision {decision_id} is not JSON: {e}"),
        })?;
        Ok(Some(DecisionRecord {
            summary: row.summary,
            received_at: row.received_at,
            event,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_wildcards_literally() {
        assert_eq!(like_pattern("50%_off"), r"%50\%\_off%");
        assert_eq!(like_pattern(r"a\b"), r"%a\\b%");
    }

    #[test]
    fn queries_bind_every_value_and_order_by_the_keyset() {
        let filter = DecisionFilter {
            persona: Some("hr-bot'; DROP TABLE x; --".into()),
            allow: Some(false),
            reasons_contain: Some("salary".into()),
            ..DecisionFilter::default()
        };
        let keyset = Keyset {
            ts: DateTime::UNIX_EPOCH,
            decision_id: Uuid::nil(),
        };
        let sql = |reasons: ReasonsMatch, check: TextCheck| {
            page_query(
                false,
                "decision_id",
                &filter,
                Some(&reasons),
                Some((keyset, Direction::Newer)),
                5,
                check,
            )
            .into_string()
        };
        assert_eq!(
            sql(
                ReasonsMatch::Pattern(like_pattern("salary")),
                TextCheck::InQuery
            ),
            "SELECT decision_id FROM decision_logs WHERE TRUE AND allow = $1 \
             AND hashtextextended(persona, 0) = hashtextextended($2, 0) AND persona = $3 \
             AND reasons ILIKE $4 AND (ts, decision_id) > ($5, $6) \
             ORDER BY ts ASC, decision_id ASC LIMIT $7"
        );
        assert_eq!(
            sql(ReasonsMatch::Ids(vec![7, 9]), TextCheck::InQuery),
            "SELECT decision_id FROM decision_logs WHERE TRUE AND allow = $1 \
             AND hashtextextended(persona, 0) = hashtextextended($2, 0) AND persona = $3 \
             AND reasons_id = ANY($4) AND (ts, decision_id) > ($5, $6) \
             ORDER BY ts ASC, decision_id ASC LIMIT $7"
        );
        // Checked on the rows: the key alone.
        assert_eq!(
            sql(ReasonsMatch::Ids(vec![7, 9]), TextCheck::Rows),
            "SELECT decision_id FROM decision_logs WHERE TRUE AND allow = $1 \
             AND hashtextextended(persona, 0) = hashtextextended($2, 0) \
             AND reasons_id = ANY($3) AND (ts, decision_id) > ($4, $5) \
             ORDER BY ts ASC, decision_id ASC LIMIT $6"
        );
    }

    #[test]
    fn a_filter_admits_only_rows_with_each_of_its_texts() {
        let row = DecisionSummary {
            decision_id: Uuid::nil(),
            ts: DateTime::UNIX_EPOCH,
            persona: Some("hr-bot".into()),
            agent_id: Some("agent-1".into()),
            user_id: Some("u-1".into()),
            tool: Some("lookup".into()),
            allow: Some(true),
            revision: None,
            sequence: None,
            path: None,
            reasons: String::new(),
        };
        assert!(DecisionFilter::default().admits(&row));
        type Set = fn(&mut DecisionFilter, String);
        let with = |f: Set, value: &str| {
            let mut filter = DecisionFilter::default();
            f(&mut filter, value.to_owned());
            filter.admits(&row)
        };
        let setters: [(Set, &str); 4] = [
            (|f, v| f.persona = Some(v), "hr-bot"),
            (|f, v| f.agent_id = Some(v), "agent-1"),
            (|f, v| f.user_id = Some(v), "u-1"),
            (|f, v| f.tool = Some(v), "lookup"),
        ];
        for (set, same) in setters {
            assert!(with(set, same));
            assert!(!with(set, &format!("{same}x")));
            assert!(!with(set, &same.to_uppercase()));
        }
        // A row without the field never has the text asked for.
        assert!(!with(|f, v| f.revision = Some(v), "hr-bot-1"));
        // All asked texts must hold.
        let filter = DecisionFilter {
            persona: Some("hr-bot".into()),
            user_id: Some("u-2".into()),
            ..DecisionFilter::default()
        };
        assert!(!filter.admits(&row));
    }

    #[test]
    fn a_persona_without_a_verdict_merges_the_three_verdicts_in_list_order() {
        let filter = DecisionFilter {
            persona: Some("hr-bot".into()),
            user_id: Some("u-1".into()),
            ..DecisionFilter::default()
        };
        let keyset = Keyset {
            ts: DateTime::UNIX_EPOCH,
            decision_id: Uuid::nil(),
        };
        let branch = |verdict: &str, first: usize| {
            let p = |i: usize| format!("${}", first + i);
            format!(
                "(SELECT decision_id, ts FROM decision_logs WHERE {verdict} \
                 AND hashtextextended(persona, 0) = hashtextextended({}, 0) AND persona = {} \
                 AND hashtextextended(user_id, 0) = hashtextextended({}, 0) AND user_id = {} \
                 AND (ts, decision_id) < ({}, {}) \
                 ORDER BY ts DESC, decision_id DESC LIMIT {})",
                p(0),
                p(1),
                p(2),
                p(3),
                p(4),
                p(5),
                p(6)
            )
        };
        let q = page_query(
            false,
            "decision_id, ts",
            &filter,
            None,
            Some((keyset, Direction::Older)),
            5,
            TextCheck::InQuery,
        );
        assert_eq!(
            q.into_string(),
            format!(
                "SELECT decision_id, ts FROM ({} UNION ALL {} UNION ALL {}) AS verdicts \
                 ORDER BY ts DESC, decision_id DESC LIMIT $22",
                branch("allow = TRUE", 1),
                branch("allow = FALSE", 8),
                branch("allow IS NULL", 15)
            )
        );
    }
}
