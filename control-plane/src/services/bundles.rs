//! Channel-change notifications for long polls, and a cache of channel heads kept honest by them.
//!
//! One task per replica LISTENs on [`NOTIFY_CHANNEL`] (the store sends `<persona>/<channel>` in
//! the transaction that moves a channel) and wakes the long polls waiting on that persona, so a
//! push through any replica reaches every replica's waiters. Waiters subscribe *before* they read
//! the head and re-read it after every wake, so no change is missed. While the listener is
//! (re)connecting nothing is cached and, once it is back, every waiter is woken to re-check,
//! since notifications sent in between are lost.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sqlx::postgres::PgListener;
use tokio::sync::watch;

use crate::app::AppState;
use crate::store::revisions::ChannelHead;
use crate::store::{Store, StoreResult};

/// The Postgres notification channel; payload `<persona>/<channel>`.
pub const NOTIFY_CHANNEL: &str = "regent_channels";

/// A cached head is trusted this long even without a notification: a safety net for a channel
/// moved by hand in SQL without `pg_notify`.
const HEAD_TTL: Duration = Duration::from_secs(5);

/// Upper bound on cached heads; the cache is cleared when it is reached.
const HEAD_CACHE_CAP: usize = 10_000;

const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
struct Shared {
    /// Wakes the long polls of one persona; removed when its last waiter leaves.
    personas: HashMap<String, watch::Sender<u64>>,
    /// `(persona, channel)` → head, read while the listener was connected.
    heads: HashMap<(String, String), (Instant, ChannelHead)>,
    /// Bumped by every notification and reconnect: a head read across a bump is not cached.
    changes: u64,
}

/// Long-poll wake-ups and the channel-head cache. Cheap to share (lives in `AppState`).
#[derive(Debug)]
pub struct BundleWatch {
    shared: Arc<Mutex<Shared>>,
    /// Wakes every waiter (after the listener reconnects).
    everyone: watch::Sender<u64>,
    /// Whether the listener is connected; the cache is bypassed otherwise.
    listening: AtomicBool,
}

impl Default for BundleWatch {
    fn default() -> Self {
        BundleWatch::new()
    }
}

impl BundleWatch {
    pub fn new() -> BundleWatch {
        BundleWatch {
            shared: Arc::default(),
            everyone: watch::Sender::new(0),
            listening: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A poisoned lock only means a panic elsewhere mid-update of plain maps; keep going.
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether the LISTEN connection is up (changes made on other replicas reach us).
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    /// Resolves once the LISTEN connection is up (tests and readiness use it).
    pub async fn until_listening(&self) {
        let mut rx = self.everyone.subscribe();
        while !self.is_listening() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// How many long polls wait on `persona` right now.
    pub fn waiters(&self, persona: &str) -> usize {
        self.lock()
            .personas
            .get(persona)
            .map_or(0, watch::Sender::receiver_count)
    }

    /// Starts watching `persona`. Call it before reading the head you compare against.
    pub fn subscribe(&self, persona: &str) -> BundleSubscription {
        let persona_rx = self
            .lock()
            .personas
            .entry(persona.to_owned())
            .or_insert_with(|| watch::Sender::new(0))
            .subscribe();
        BundleSubscription {
            shared: Arc::clone(&self.shared),
            persona: persona.to_owned(),
            persona_rx: Some(persona_rx),
            everyone_rx: self.everyone.subscribe(),
        }
    }

    /// The revision `channel` of `persona` points at; cached while the listener is connected.
    pub async fn head(
        &self,
        store: &Store,
        persona: &str,
        channel: &str,
    ) -> StoreResult<Option<ChannelHead>> {
        let key = (persona.to_owned(), channel.to_owned());
        let before = {
            let shared = self.lock();
            if self.is_listening()
                && let Some((at, head)) = shared.heads.get(&key)
                && at.elapsed() < HEAD_TTL
            {
                return Ok(Some(head.clone()));
            }
            shared.changes
        };
        let head = store.channel_head(persona, channel).await?;
        if let Some(head) = &head
            && self.is_listening()
        {
            let mut shared = self.lock();
            // A notification in between may mean this read is already stale: don't keep it.
            if shared.changes == before {
                if shared.heads.len() >= HEAD_CACHE_CAP {
                    shared.heads.clear();
                }
                shared.heads.insert(key, (Instant::now(), head.clone()));
            }
        }
        Ok(head)
    }

    /// A `<persona>/<channel>` notification arrived.
    pub fn notified(&self, payload: &str) {
        let (persona, channel) = payload.split_once('/').unwrap_or((payload, ""));
        let mut shared = self.lock();
        shared.changes += 1;
        if channel.is_empty() {
            shared.heads.retain(|(p, _), _| p != persona);
        } else {
            shared
                .heads
                .remove(&(persona.to_owned(), channel.to_owned()));
        }
        if let Some(sender) = shared.personas.get(persona) {
            sender.send_modify(|n| *n += 1);
        }
    }

    /// The listener (re)connected or lost its connection: forget every cached head and, when
    /// connected again, wake every waiter to re-check (notifications in the gap are lost).
    pub fn set_listening(&self, listening: bool) {
        {
            let mut shared = self.lock();
            shared.changes += 1;
            shared.heads.clear();
            self.listening.store(listening, Ordering::Release);
        }
        if listening {
            self.everyone.send_modify(|n| *n += 1);
        }
    }
}

/// A waiter's handle; dropping it forgets the persona's sender when no one else waits.
#[derive(Debug)]
pub struct BundleSubscription {
    shared: Arc<Mutex<Shared>>,
    persona: String,
    persona_rx: Option<watch::Receiver<u64>>,
    everyone_rx: watch::Receiver<u64>,
}

impl BundleSubscription {
    /// Resolves when the persona may have changed. Never resolves once the watch is gone
    /// (callers race it against their deadline).
    pub async fn changed(&mut self) {
        let Some(persona_rx) = self.persona_rx.as_mut() else {
            return std::future::pending().await;
        };
        let result = tokio::select! {
            r = persona_rx.changed() => r,
            r = self.everyone_rx.changed() => r,
        };
        if result.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for BundleSubscription {
    fn drop(&mut self) {
        drop(self.persona_rx.take());
        let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        if shared
            .personas
            .get(&self.persona)
            .is_some_and(|s| s.receiver_count() == 0)
        {
            shared.personas.remove(&self.persona);
        }
    }
}

/// Runs the LISTEN task until the pool closes.
pub fn spawn(state: AppState) -> Vec<tokio::task::JoinHandle<()>> {
    vec![tokio::spawn(listen(state))]
}

async fn listen(state: AppState) {
    let pool = state.store.pool.clone();
    let mut backoff = BACKOFF_START;
    loop {
        if pool.is_closed() {
            return;
        }
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(NOTIFY_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        }
        .await;
        match connected {
            Ok(mut listener) => {
                backoff = BACKOFF_START;
                state.bundles.set_listening(true);
                tracing::debug!(channel = NOTIFY_CHANNEL, "listening for channel moves");
                loop {
                    match listener.try_recv().await {
                        Ok(Some(notification)) => state.bundles.notified(notification.payload()),
                        // Lost and already re-established (with LISTEN): anything sent in the
                        // gap is gone, so everyone re-checks.
                        Ok(None) => {
                            tracing::warn!("channel listener reconnected; waking every long poll");
                            state.bundles.set_listening(true);
                        }
                        Err(sqlx::Error::PoolClosed) => return,
                        Err(e) => {
                            tracing::warn!(error = %e, "channel listener lost its connection; reconnecting");
                            break;
                        }
                    }
                }
                state.bundles.set_listening(false);
            }
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "cannot listen for channel moves");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}
