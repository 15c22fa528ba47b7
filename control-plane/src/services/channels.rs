//! Moving a channel: the pointer, the rollout event, the long-poll wake-up and the OCI channel
//! tag all change in one transaction.

use sqlx::PgConnection;

use crate::config::Config;
use crate::store::revisions::ChannelMove;
use crate::store::{Store, StoreResult};

/// Moves `change.channel` to `change.revision_id` and queues the registry tag move.
pub async fn move_channel(
    conn: &mut PgConnection,
    config: &Config,
    change: &ChannelMove<'_>,
) -> StoreResult<()> {
    Store::move_channel(conn, change).await?;
    Store::enqueue_channel_tag(
        conn,
        change.revision_id,
        change.persona,
        change.channel,
        &config.registries,
    )
    .await
}
