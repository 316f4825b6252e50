//! Keyspace notifications, and the one keyspace event the module follows.
//!
//! Every change a command makes to a key is announced in the module event class (`d` in
//! `notify-keyspace-events`; nothing is built when the server publishes no event of that
//! class), named after the command: `rl.hit`, `rl.mhit`, `cl.throttle`,
//! `rl.setstate`, and for leases `rl.acquire`, `rl.release`, `rl.renew`, `rl.setleases`; a key deleted because its state carries nothing any more is announced as a
//! generic `del`. With `rl.notify-denied yes`, a denied request is announced as `rl.denied` on
//! the key that denied it, so that abuse can be watched with `PSUBSCRIBE`.
//!
//! `RESTORE key 0 payload` creates a key without expiry, whatever the state inside says. The
//! module follows `restore` events and gives such a key the expiry its state carries. Every
//! node does this for itself, replicas and AOF replays included: the expiry is an absolute
//! instant taken from the state, so all of them arrive at the same one, and nothing extra is
//! propagated.

use std::ffi::{c_char, c_int, CStr};

use redis_module::raw;

use super::context::{Ctx, Name, OwnedName};
use super::key::{Access, Key};
use super::{config, leases, store};

pub const HIT: &CStr = c"rl.hit";
pub const MULTI_HIT: &CStr = c"rl.mhit";
pub const THROTTLE: &CStr = c"cl.throttle";
pub const SET_STATE: &CStr = c"rl.setstate";
pub const ACQUIRE: &CStr = c"rl.acquire";
pub const RELEASE: &CStr = c"rl.release";
pub const RENEW: &CStr = c"rl.renew";
pub const SET_LEASES: &CStr = c"rl.setleases";
const DENIED: &CStr = c"rl.denied";

const MODULE_CLASS: c_int = raw::REDISMODULE_NOTIFY_MODULE;
const GENERIC_CLASS: c_int = raw::REDISMODULE_NOTIFY_GENERIC;

/// Publishes an event of `class`, unless the server publishes none of that class (asking
/// costs less than building an event nobody receives).
fn publish(ctx: Ctx, class: c_int, event: &CStr, key: Name) {
    if ctx.notified_classes() & class != 0 {
        ctx.notify(class, event, key);
    }
}

/// Announces that a command changed `key`.
pub fn changed(ctx: Ctx, event: &CStr, key: Name) {
    publish(ctx, MODULE_CLASS, event, key);
}

/// Announces that `key` was deleted because its state carries nothing.
pub fn deleted(ctx: Ctx, key: Name) {
    publish(ctx, GENERIC_CLASS, c"del", key);
}

/// Announces a denied request, when `rl.notify-denied` asks for it.
pub fn denied(ctx: Ctx, key: Name) {
    if config::notify_denied() {
        publish(ctx, MODULE_CLASS, DENIED, key);
    }
}

/// Follows `restore` events (see the module comment).
pub fn follow_restores(ctx: Ctx) -> Result<(), String> {
    if !ctx.subscribe_to_keyspace_events(GENERIC_CLASS, Some(on_generic_event)) {
        return Err("could not follow keyspace events".into());
    }
    Ok(())
}

unsafe extern "C" fn on_generic_event(
    ctx: *mut raw::RedisModuleCtx,
    _class: c_int,
    event: *const c_char,
    key: *mut raw::RedisModuleString,
) -> c_int {
    // SAFETY: the server passes the event's name as a NUL-terminated string.
    if event.is_null() || unsafe { CStr::from_ptr(event) } != c"restore" {
        return raw::REDISMODULE_OK as c_int;
    }
    if let Some(ctx) = Ctx::of_call(ctx) {
        // SAFETY: the server passes the restored key's name, alive during the event.
        let name = unsafe { Name::of_call(key) };
        let _ = std::panic::catch_unwind(|| give_expiry(ctx, name));
    }
    raw::REDISMODULE_OK as c_int
}

/// Sets the expiry of a restored key of ours that has none.
fn give_expiry(ctx: Ctx, name: Name) {
    // The key is opened with a copy of its name: the server's may not outlive the event.
    let Some(name) = OwnedName::copy(ctx, name) else {
        return;
    };
    let key = Key::open(ctx, name.name(), Access::Write);
    if key.expire_at().is_some() {
        return;
    }
    let expires_at = store::read(&key)
        .ok()
        .and_then(|stored| stored.held())
        .and_then(|held| held.to_expiry())
        .or_else(|| leases::last_expiry(&key));
    if let Some(at) = expires_at {
        key.set_expire_at(i64::try_from(at.ceil_millis()).unwrap_or(i64::MAX));
    }
}
