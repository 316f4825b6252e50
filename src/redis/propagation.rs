//! Whether the effect of a change has anywhere to go.
//!
//! Replicating an effect (`RL.SETSTATE key state`) costs about as much as the rest of an
//! RL.HIT, because the server looks the command up by name and builds its arguments on every
//! call, and only then finds out whether anybody receives them. Something receives them only
//! when there is an AOF, a replica, a replication backlog (a replica may come back and ask for
//! what it missed), or a cluster (slot migrations stream writes). When none of these exists,
//! a change is only counted, for the save points, which is all the server would have done.
//!
//! Whether anything listens is read again whenever it can start to matter: when the server
//! forks (a replica's full sync, and the AOF rewrite that switching the AOF on starts, fork
//! before any change has to reach them), when a replica comes or goes, when the role or a
//! config changes, and on the server's cron (a backlog expiring). The AOF and cluster mode
//! come from the context flags, replicas and the backlog from `INFO replication`. Until the
//! first reading, effects are always sent.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use redis_module::raw;

use super::context::Ctx;

/// Whether an AOF, a replica, a backlog or a cluster may receive changes.
static LISTENERS: AtomicBool = AtomicBool::new(true);
static CRON_TICKS: AtomicU64 = AtomicU64::new(0);

/// Follows the events after which replication may start or stop listening.
pub fn follow(ctx: Ctx) -> Result<(), String> {
    for event in [
        raw::REDISMODULE_EVENT_FORK_CHILD,
        raw::REDISMODULE_EVENT_REPLICA_CHANGE,
        raw::REDISMODULE_EVENT_REPLICATION_ROLE_CHANGED,
        raw::REDISMODULE_EVENT_CONFIG,
        raw::REDISMODULE_EVENT_CRON_LOOP,
    ] {
        if !ctx.subscribe_to_server_event(event, Some(on_event)) {
            return Err(format!("could not follow server event {event}"));
        }
    }
    refresh(ctx);
    Ok(())
}

/// True when a change made now must be replicated: something may receive it.
pub fn has_listeners() -> bool {
    LISTENERS.load(Ordering::Relaxed)
}

unsafe extern "C" fn on_event(
    ctx: *mut raw::RedisModuleCtx,
    event: raw::RedisModuleEvent,
    _sub: u64,
    _data: *mut c_void,
) {
    // The cron runs `hz` times a second (10 by default); reading INFO every tick would cost
    // more than it saves at high hz, and a backlog expires on a scale of minutes.
    if event.id == raw::REDISMODULE_EVENT_CRON_LOOP
        && CRON_TICKS.fetch_add(1, Ordering::Relaxed) % 10 != 0
    {
        return;
    }
    if let Some(ctx) = Ctx::of_call(ctx) {
        let _ = std::panic::catch_unwind(|| refresh(ctx));
    }
}

fn refresh(ctx: Ctx) {
    let aof_or_cluster =
        ctx.flags() & (raw::REDISMODULE_CTX_FLAGS_AOF | raw::REDISMODULE_CTX_FLAGS_CLUSTER) != 0;
    LISTENERS.store(
        aof_or_cluster || replication_listens(ctx),
        Ordering::Relaxed,
    );
}

/// Reads `INFO replication`. Anything unexpected counts as listening.
fn replication_listens(ctx: Ctx) -> bool {
    let field = |name| ctx.info_number(c"replication", name);
    // A replica forwards its primary's stream to its own replicas: it propagates nothing of its
    // own over replication, whatever its backlog holds.
    if ctx.info_field(c"replication", c"role").as_deref() == Some("slave") {
        return false;
    }
    match (field(c"connected_slaves"), field(c"repl_backlog_active")) {
        (Some(replicas), Some(backlog)) => {
            replicas > 0 || backlog != 0 || field(c"replicas_waiting_psync").unwrap_or(0) > 0
        }
        _ => true,
    }
}
