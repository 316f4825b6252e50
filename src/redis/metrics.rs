//! Counters shown by `INFO rl`.

use std::sync::atomic::{AtomicU64, Ordering};

use redis_module::raw;

use super::setup::Info;

static ALLOWED: AtomicU64 = AtomicU64::new(0);
static DENIED: AtomicU64 = AtomicU64::new(0);
static EFFECTS_SENT: AtomicU64 = AtomicU64::new(0);
static EFFECTS_UNHEARD: AtomicU64 = AtomicU64::new(0);

/// Counts one decision. Commands run on the server's main thread; relaxed atomics are plain
/// additions there.
pub fn record(allowed: bool) {
    let counter = if allowed { &ALLOWED } else { &DENIED };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Counts one change: its effect sent to replicas and the AOF, or left unbuilt because
/// nothing listened.
pub fn record_change(sent: bool) {
    let counter = if sent {
        &EFFECTS_SENT
    } else {
        &EFFECTS_UNHEARD
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The `INFO rl` section: `rl_allowed`, `rl_denied` (decisions), `rl_effects_sent`,
/// `rl_effects_unheard` (changes replicated, and changes made while nothing listened).
pub unsafe extern "C" fn info(ctx: *mut raw::RedisModuleInfoCtx, _for_crash_report: i32) {
    // SAFETY: the server passes the context of this info callback.
    let Some(info) = (unsafe { Info::of_call(ctx) }) else {
        return;
    };
    info.section();
    for (name, counter) in [
        (c"allowed", &ALLOWED),
        (c"denied", &DENIED),
        (c"effects_sent", &EFFECTS_SENT),
        (c"effects_unheard", &EFFECTS_UNHEARD),
    ] {
        info.field(name, counter.load(Ordering::Relaxed));
    }
}
