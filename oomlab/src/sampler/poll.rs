//! The `/debug/memory` poller of the reference server.

use std::sync::Arc;
use std::time::Duration;

use memstats::DebugMemory;
use tokio_util::sync::CancellationToken;

use super::{DEBUG_INTERVAL, Shared};

/// Fetches `{base_url}/debug/memory` every [`DEBUG_INTERVAL`] until
/// `cancel`; failures are counted, not fatal (the server may be busy or
/// gone).
pub async fn poll_debug(
    shared: Arc<Shared>,
    base_url: String,
    generation: u32,
    cancel: CancellationToken,
) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_millis(1000))
        .build()
    {
        Ok(c) => c,
        Err(_) => return,
    };
    let url = format!("{}/debug/memory", base_url.trim_end_matches('/'));
    let mut tick = tokio::time::interval(DEBUG_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let doc = async {
            client
                .get(&url)
                .send()
                .await?
                .error_for_status()?
                .json::<DebugMemory>()
                .await
        };
        let doc = tokio::select! {
            _ = cancel.cancelled() => return,
            d = doc => d,
        };
        match doc {
            Ok(doc) => shared.record_debug(doc, generation),
            Err(_) => shared.state().debug_errors += 1,
        }
    }
}
