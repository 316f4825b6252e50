//! Limiter states in keys: how a state is read from a key, written to it with its expiry,
//! announced and replicated.
//!
//! A key's TTL is the instant its state stops carrying information, so every key disappears
//! once it is back to full capacity. Every change is propagated to replicas and the AOF as its
//! effect, `RL.SETSTATE key <state bytes>`, with absolute times inside, never as the command
//! that caused it: a replica or an AOF replay reaches the same bytes whatever its clock says.
//! When nothing could receive the effect (see `propagation`), the change is only counted.

use std::ffi::{c_void, CStr};

use rl_core::{codec, Invalid, State};

use super::datatype::module_type;
use super::key::{Key, OtherType};
use super::{metrics, notify, packed, propagation};

/// The command that carries a state to replicas and the AOF.
pub const SET_STATE_COMMAND: &CStr = c"RL.SETSTATE";

/// The value of an open key: the packed state inside it, or nothing for an empty key. Valid
/// while the key is open and unchanged.
pub struct Stored {
    value: *mut c_void,
    state: Option<State>,
}

impl Stored {
    pub fn state(&self) -> Option<State> {
        self.state
    }
}

/// The state stored at an open key.
pub fn read(key: &Key) -> Result<Stored, OtherType> {
    let value = key.module_value(module_type())?;
    // SAFETY: values of our type are only ever made by `packed::pack` (see `write`), and the
    // key is open, so the value is alive.
    let state = (!value.is_null()).then(|| unsafe { packed::unpack(value) });
    Ok(Stored { value, state })
}

/// A state the limiter produced that is not one the module may hold (see
/// `State::validate`). It is never stored: a stored state must always load again.
#[derive(Debug)]
pub struct Unstorable(pub Invalid);

/// Whether `write` would store `state` (or delete the key, for a state that carries nothing).
pub fn check(state: &State) -> Result<(), Unstorable> {
    match state.expires_at() {
        Some(_) => state.validate().map_err(Unstorable),
        None => Ok(()),
    }
}

/// Stores `state` at the key in place of `stored` (what `read` returned), sets its TTL,
/// announces the change as `event` and propagates it. A state that carries no information
/// deletes the key instead.
pub fn write(key: &Key, stored: &Stored, state: State, event: &CStr) -> Result<(), Unstorable> {
    let Some(expires_at) = state.expires_at() else {
        delete(key, stored.state.is_some());
        return Ok(());
    };
    check(&state)?;
    if stored.value.is_null() {
        let value = packed::pack(&state);
        if !key.set_module_value(module_type(), value) {
            // SAFETY: the server refused the value, which is still ours.
            unsafe { packed::free(value) };
            return Ok(());
        }
    // SAFETY: `stored.value` is the key's value, made by `pack`, and nothing else reads it.
    } else if let Some(value) = unsafe { packed::repack(stored.value, &state) } {
        // The state outgrew its compact form, or shrank back into it.
        let unused = key
            .replace_module_value(module_type(), value)
            .unwrap_or(value);
        // SAFETY: the old value, now ours, or the new one the server refused.
        unsafe { packed::free(unused) };
    }
    let expire_ms = i64::try_from(expires_at.ceil_millis()).unwrap_or(i64::MAX);
    // Most hits on a sliding or fixed window leave the expiry where it was: reading it back is
    // cheaper than setting it again. (The key's own TTL is what counts, since a user may have
    // changed it.)
    let unchanged = stored.state.and_then(|s| s.expires_at()) == Some(expires_at)
        && key.expire_at() == Some(expire_ms);
    if !unchanged {
        key.set_expire_at(expire_ms);
    }
    key.ctx().signal_modified(key.name());
    notify::changed(key.ctx(), event, key.name());
    replicate_state(key, &state);
    Ok(())
}

fn delete(key: &Key, existed: bool) {
    if !existed {
        return;
    }
    key.delete();
    key.ctx().signal_modified(key.name());
    notify::deleted(key.ctx(), key.name());
    if propagation::has_listeners() {
        metrics::record_change(true);
        key.ctx().replicate_del(key.name());
    } else {
        count_change(key);
    }
}

/// Sends the effect of a change to replicas and the AOF, or only counts it when nothing would
/// receive it.
fn replicate_state(key: &Key, state: &State) {
    if !propagation::has_listeners() {
        return count_change(key);
    }
    metrics::record_change(true);
    key.ctx().replicate(
        SET_STATE_COMMAND,
        key.name(),
        codec::encode(state).as_bytes(),
    );
}

/// Counts a change towards the save points (`save 60 10000`) without building its effect.
/// Verbatim replication is the module API's one way to do that; with no AOF, replica or
/// backlog the server propagates nothing of it.
fn count_change(key: &Key) {
    metrics::record_change(false);
    key.ctx().replicate_verbatim();
}

/// Applies a state received as an effect (`RL.SETSTATE`). On a primary serving a client, a
/// state that already lapsed is not stored; replayed effects (from our primary, or the AOF)
/// are applied as they are, so the data set matches its source.
pub fn apply(key: &Key, stored: &Stored, state: State, replayed: bool) -> Result<(), Unstorable> {
    let now_ms = key.ctx().now().as_micros() / 1000;
    match state.expires_at() {
        Some(at) if replayed || at.ceil_millis() > now_ms => {
            write(key, stored, state, notify::SET_STATE)
        }
        _ => {
            delete(key, stored.state.is_some());
            Ok(())
        }
    }
}
