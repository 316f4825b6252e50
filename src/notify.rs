//! Keyspace notifications, and the one keyspace event the module follows.
//!
//! Every change a command makes to a key is announced in the module event class (`d` in
//! `notify-keyspace-events`), named after the command: `rl.hit`, `rl.mhit`, `cl.throttle`,
//! `rl.setstate`; a key deleted because its state carries nothing any more is announced as a
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

use crate::api::{call, Ctx, Key, RString};
use crate::config;
use crate::store;

pub const HIT: &CStr = c"rl.hit";
pub const MULTI_HIT: &CStr = c"rl.mhit";
pub const THROTTLE: &CStr = c"cl.throttle";
pub const SET_STATE: &CStr = c"rl.setstate";
const DENIED: &CStr = c"rl.denied";

/// Announces that a command changed `key`.
pub fn changed(ctx: Ctx, event: &CStr, key: RString) {
    call!(RedisModule_NotifyKeyspaceEvent(ctx, raw::REDISMODULE_NOTIFY_MODULE, event.as_ptr(), key) else 0);
}

/// Announces that `key` was deleted because its state carries nothing.
pub fn deleted(ctx: Ctx, key: RString) {
    call!(RedisModule_NotifyKeyspaceEvent(ctx, raw::REDISMODULE_NOTIFY_GENERIC, c"del".as_ptr(), key) else 0);
}

/// Announces a denied request, when `rl.notify-denied` asks for it.
pub fn denied(ctx: Ctx, key: RString) {
    if config::notify_denied() {
        call!(RedisModule_NotifyKeyspaceEvent(ctx, raw::REDISMODULE_NOTIFY_MODULE, DENIED.as_ptr(), key) else 0);
    }
}

/// Follows `restore` events (see the module comment).
pub fn follow_restores(ctx: Ctx) -> Result<(), String> {
    let subscribed = call!(RedisModule_SubscribeToKeyspaceEvents(
        ctx,
        raw::REDISMODULE_NOTIFY_GENERIC,
        Some(on_generic_event),
    ) else 1);
    if subscribed != raw::REDISMODULE_OK as c_int {
        return Err("could not follow keyspace events".into());
    }
    Ok(())
}

unsafe extern "C" fn on_generic_event(
    ctx: Ctx,
    _type: c_int,
    event: *const c_char,
    key: RString,
) -> c_int {
    // SAFETY: the server passes the event's name as a NUL-terminated string.
    if event.is_null() || unsafe { CStr::from_ptr(event) } != c"restore" {
        return raw::REDISMODULE_OK as c_int;
    }
    let _ = std::panic::catch_unwind(|| give_expiry(ctx, key));
    raw::REDISMODULE_OK as c_int
}

/// Sets the expiry of a restored key of ours that has none.
fn give_expiry(ctx: Ctx, name: RString) {
    // The key is opened from a copy of its name: the server's may not outlive the event.
    let copy = call!(RedisModule_CreateStringFromString(ctx, name) else std::ptr::null_mut());
    if copy.is_null() {
        return;
    }
    {
        let key = Key::open(ctx, copy, raw::REDISMODULE_READ | raw::REDISMODULE_WRITE);
        if key.expire_at().is_none() {
            if let Ok(stored) = store::read(&key) {
                if let Some(at) = stored.get().and_then(|s| s.expires_at()) {
                    key.set_expire_at(i64::try_from(at.ceil_millis()).unwrap_or(i64::MAX));
                }
            }
        }
    }
    call!(RedisModule_FreeString(ctx, copy) else ());
}
