//! Limiter values in keys: how a value is read from a key, written to it with its expiry,
//! announced and replicated.
//!
//! A key's TTL is the instant its value stops carrying information, so every key disappears
//! once it is back to full capacity. Every change is propagated to replicas and the AOF as its
//! effect, `RL.SETSTATE key <bytes>`, with absolute times inside, never as the command that
//! caused it: a replica or an AOF replay reaches the same bytes whatever its clock says. For a
//! log the effect is the change (`codec::Effect::Edit`), not the whole log. When nothing could
//! receive the effect (see `propagation`), the change is only counted.

use std::ffi::{c_void, CStr};

use rl_core::codec::{self, Effect as Received};
use rl_core::engines::log::LogFault;
use rl_core::value::Fault;
use rl_core::{Held, Value, Write};

use super::datatype::module_type;
use super::key::{Key, OtherType};
use super::{metrics, notify, packed, propagation};

/// The command that carries a value, or a change to a log, to replicas and the AOF.
pub const SET_STATE_COMMAND: &CStr = c"RL.SETSTATE";

/// The value of an open key, or nothing for an empty key. Valid while the key is open and
/// unchanged.
pub struct Stored<'k> {
    value: *mut c_void,
    held: Option<Held<'k>>,
}

impl<'k> Stored<'k> {
    pub fn held(&self) -> Option<Held<'k>> {
        self.held
    }

    fn expires_at(&self) -> Option<rl_core::Micros> {
        match self.held? {
            Held::State(s) => s.expires_at(),
            Held::Log(l) => l.expires_at(),
        }
    }
}

/// The value stored at an open key.
pub fn read<'k>(key: &'k Key) -> Result<Stored<'k>, OtherType> {
    let value = key.module_value(module_type())?;
    // SAFETY: values of our type are only ever made by `packed` (see `write`), and the key is
    // open, so the value is alive while the key is.
    let held = (!value.is_null()).then(|| unsafe { packed::held(value) });
    Ok(Stored { value, held })
}

/// A value the limiter produced that is not one the module may hold (see
/// `rl_core::Value::validate`). It is never stored: a stored value must always load again.
#[derive(Debug)]
pub struct Unstorable(pub Fault);

/// Whether `write` would store what `write` carries. A change to a log keeps it valid by
/// construction, and is checked again once applied.
pub fn check(write: &Write) -> Result<(), Unstorable> {
    match write {
        Write::State(s) if s.expires_at().is_some() => {
            s.validate().map_err(|f| Unstorable(Fault::State(f)))
        }
        Write::Log(l) if !l.is_empty() => l.validate().map_err(|f| Unstorable(Fault::Log(f))),
        _ => Ok(()),
    }
}

/// Stores what `write` carries at the key in place of `stored` (what `read` returned), sets
/// its TTL, announces the change as `event` and propagates it. A value that carries no
/// information deletes the key instead.
pub fn write(key: &Key, stored: &Stored, write: Write, event: &CStr) -> Result<(), Unstorable> {
    check(&write)?;
    let before = stored.expires_at();
    let listening = propagation::has_listeners();
    // The effect is built only when something will receive it.
    let (expires_at, effect) = match write {
        Write::State(state) => {
            let Some(expires_at) = state.expires_at() else {
                delete(key, stored.held.is_some());
                return Ok(());
            };
            store_state(key, stored, &state);
            let effect = match listening {
                true => Effect::Bytes(codec::encode(&state)),
                false => Effect::None,
            };
            (expires_at, effect)
        }
        Write::Log(log) => {
            let Some(expires_at) = log.expires_at() else {
                delete(key, stored.held.is_some());
                return Ok(());
            };
            let effect = match listening {
                true => Effect::Heap(codec::encode_log(&log)),
                false => Effect::None,
            };
            replace(key, stored, packed::pack_log(log));
            (expires_at, effect)
        }
        Write::Edit(edit) => {
            // SAFETY: the key's value, made by `packed`, and nothing else reads it meanwhile.
            let Some(log) = (unsafe { packed::log_mut(stored.value) }) else {
                return Err(Unstorable(Fault::Log(LogFault::NotALog)));
            };
            log.apply(&edit);
            if let Err(fault) = log.check_write() {
                // Never keep a log that could not load again.
                delete(key, true);
                return Err(Unstorable(Fault::Log(fault)));
            }
            let Some(expires_at) = log.expires_at() else {
                delete(key, true);
                return Ok(());
            };
            let effect = match listening {
                true => Effect::Bytes(codec::encode_edit(&edit, log.len(), log.total())),
                false => Effect::None,
            };
            (expires_at, effect)
        }
    };
    let expire_ms = i64::try_from(expires_at.ceil_millis()).unwrap_or(i64::MAX);
    // Most hits on a sliding or fixed window leave the expiry where it was: reading it back is
    // cheaper than setting it again. (The key's own TTL is what counts, since a user may have
    // changed it.)
    if before != Some(expires_at) || key.expire_at() != Some(expire_ms) {
        key.set_expire_at(expire_ms);
    }
    key.ctx().signal_modified(key.name());
    notify::changed(key.ctx(), event, key.name());
    match effect {
        Effect::Bytes(bytes) => replicate(key, bytes.as_bytes()),
        Effect::Heap(bytes) => replicate(key, &bytes),
        Effect::None => count_change(key),
    }
    Ok(())
}

/// The bytes of an effect: on the stack for states and changes to logs, on the heap for a
/// whole log.
enum Effect {
    Bytes(codec::Encoded),
    Heap(Vec<u8>),
    None,
}

/// Stores a state, in the allocation the key already has when it takes the same form.
fn store_state(key: &Key, stored: &Stored, state: &rl_core::State) {
    if stored.value.is_null() {
        set_new(key, packed::pack(state));
    // SAFETY: `stored.value` is the key's value, made by `packed`, and nothing else reads it.
    } else if let Some(value) = unsafe { packed::repack(stored.value, state) } {
        // The state changed form (compact or whole), or the key held a log.
        replace(key, stored, value);
    }
}

/// Puts a new value (made by `packed`) in place of the key's.
fn replace(key: &Key, stored: &Stored, value: *mut c_void) {
    if stored.value.is_null() {
        return set_new(key, value);
    }
    let unused = key
        .replace_module_value(module_type(), value)
        .unwrap_or(value);
    // SAFETY: the old value, now ours, or the new one the server refused.
    unsafe { packed::free(unused) };
}

fn set_new(key: &Key, value: *mut c_void) {
    if !key.set_module_value(module_type(), value) {
        // SAFETY: the server refused the value, which is still ours.
        unsafe { packed::free(value) };
    }
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
fn replicate(key: &Key, effect: &[u8]) {
    if !propagation::has_listeners() {
        return count_change(key);
    }
    metrics::record_change(true);
    key.ctx().replicate(SET_STATE_COMMAND, key.name(), effect);
}

/// Counts a change towards the save points (`save 60 10000`) without building its effect.
/// Verbatim replication is the module API's one way to do that; with no AOF, replica or
/// backlog the server propagates nothing of it.
fn count_change(key: &Key) {
    metrics::record_change(false);
    key.ctx().replicate_verbatim();
}

/// Why an effect cannot be applied.
pub enum NotApplied {
    Unstorable(Unstorable),
    /// A change to a log the key does not hold.
    NotThisLog,
}

/// Applies an effect received through `RL.SETSTATE`. On a primary serving a client, a value
/// that already lapsed is not stored; replayed effects (from our primary, or the AOF) are
/// applied as they are, so the data set matches its source. A change to a log applies only
/// to the log it was made to (the entries and units it leaves must match).
pub fn apply(
    key: &Key,
    stored: &Stored,
    effect: Received,
    replayed: bool,
) -> Result<(), NotApplied> {
    let now_ms = key.ctx().now().as_micros() / 1000;
    let write = match effect {
        Received::Value(value) => match value.expires_at() {
            Some(at) if replayed || at.ceil_millis() > now_ms => match value {
                Value::State(s) => Write::State(s),
                Value::Log(l) => Write::Log(l),
            },
            _ => {
                delete(key, stored.held.is_some());
                return Ok(());
            }
        },
        Received::Edit { edit, count, total } => match stored.held {
            Some(Held::Log(log)) if log.after(&edit) == Some((count, total)) => Write::Edit(edit),
            _ => return Err(NotApplied::NotThisLog),
        },
    };
    write_effect(key, stored, write)
}

fn write_effect(key: &Key, stored: &Stored, write: Write) -> Result<(), NotApplied> {
    self::write(key, stored, write, notify::SET_STATE).map_err(NotApplied::Unstorable)
}
