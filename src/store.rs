//! Limiter state as a Redis data type: how it is kept in a key, expired, persisted (RDB, AOF
//! rewrite), copied, digested and replicated.
//!
//! A key's value is a `State`, packed (see `packed`). Its TTL is the instant the state stops carrying
//! information, so every key disappears once it is back to full capacity. Every change is
//! propagated to replicas and the AOF as its effect, `RL.SETSTATE key <state bytes>`, with
//! absolute times inside, never as the command that caused it: a replica or an AOF replay
//! reaches the same bytes whatever its clock says. When nothing could receive the effect (see
//! `propagation`), the change is only counted.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, Ordering};

use redis_module::native_types::RedisType;
use redis_module::raw;

use crate::api::{call, Key, RString};
use crate::limiter::{Invalid, State};
use crate::{codec, packed};
use crate::{metrics, notify, propagation};

/// The data type's name as `TYPE` shows it (Redis wants exactly 9 characters).
pub const TYPE_NAME: &str = "ratelimit";
/// RDB encoding version of the type. The state bytes carry their own format version too.
const ENCODING_VERSION: i32 = 1;
/// The command that carries a state to replicas and the AOF.
pub const SET_STATE_COMMAND: &std::ffi::CStr = c"RL.SETSTATE";

pub static RATE_LIMIT_TYPE: RedisType = RedisType::new(
    TYPE_NAME,
    ENCODING_VERSION,
    raw::RedisModuleTypeMethods {
        version: raw::REDISMODULE_TYPE_METHOD_VERSION as u64,
        rdb_load: Some(rdb_load),
        rdb_save: Some(rdb_save),
        aof_rewrite: Some(aof_rewrite),
        mem_usage: Some(mem_usage),
        digest: Some(digest),
        free: Some(free),
        aux_load: None,
        aux_save: None,
        aux_save_triggers: 0,
        free_effort: None,
        unlink: None,
        copy: Some(copy),
        defrag: None,
        mem_usage2: None,
        free_effort2: None,
        unlink2: None,
        copy2: None,
        aux_save2: None,
    },
);

/// The registered type, cached once at load for the hot path.
static TYPE_PTR: AtomicPtr<raw::RedisModuleType> = AtomicPtr::new(std::ptr::null_mut());

pub fn remember_type() {
    let ptr = *RATE_LIMIT_TYPE.raw_type.borrow();
    TYPE_PTR.store(ptr, Ordering::Relaxed);
}

fn module_type() -> *mut raw::RedisModuleType {
    TYPE_PTR.load(Ordering::Relaxed)
}

/// The key holds a value of another type.
pub struct WrongType;

/// The value of an open key: the packed state inside it, or nothing for an empty key. Valid
/// while the key is open and unchanged.
pub struct Stored {
    value: *mut c_void,
    state: Option<State>,
}

impl Stored {
    pub fn get(&self) -> Option<&State> {
        self.state.as_ref()
    }
}

/// The state stored at an open key.
pub fn read(key: &Key) -> Result<Stored, WrongType> {
    let value = key.module_value(module_type()).map_err(|()| WrongType)?;
    // Values of our type are only ever made by `packed::pack` (see `write`).
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
            unsafe { packed::free(value) };
            return Ok(());
        }
    } else if let Some(value) = unsafe { packed::repack(stored.value, &state) } {
        // The state outgrew its compact form, or shrank back into it.
        match key.replace_module_value(module_type(), value) {
            Some(old) => unsafe { packed::free(old) },
            None => unsafe { packed::free(value) },
        }
    }
    let expire_ms = expire_millis(expires_at.ceil_millis());
    // Most hits on a sliding or fixed window leave the expiry where it was: reading it back is
    // cheaper than setting it again. (The key's own TTL is what counts, since a user may have
    // changed it.)
    let unchanged = stored.state.and_then(|s| s.expires_at()) == Some(expires_at)
        && key.expire_at() == Some(expire_ms);
    if !unchanged {
        key.set_expire_at(expire_ms);
    }
    key.signal_modified();
    notify::changed(key.ctx(), event, key.name());
    replicate_state(key, &state);
    Ok(())
}

fn delete(key: &Key, existed: bool) {
    if !existed {
        return;
    }
    key.delete();
    key.signal_modified();
    notify::deleted(key.ctx(), key.name());
    if propagation::has_listeners() {
        metrics::record_change(true);
        call!(RedisModule_Replicate(key.ctx(), c"DEL".as_ptr(), c"s".as_ptr(), key.name()) else 0);
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
    let bytes = codec::encode(state);
    let bytes = bytes.as_bytes();
    call!(RedisModule_Replicate(
        key.ctx(),
        SET_STATE_COMMAND.as_ptr(),
        c"sb".as_ptr(),
        key.name(),
        bytes.as_ptr().cast::<c_char>(),
        bytes.len(),
    ) else 0);
}

/// Counts a change towards the save points (`save 60 10000`) without building its effect.
/// Verbatim replication is the module API's one way to do that; with no AOF, replica or
/// backlog the server propagates nothing of it.
fn count_change(key: &Key) {
    metrics::record_change(false);
    call!(RedisModule_ReplicateVerbatim(key.ctx()) else 0);
}

/// Key expiry times are signed milliseconds.
fn expire_millis(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// Applies a state received as an effect (`RL.SETSTATE`). On a primary serving a client, a
/// state that already lapsed is not stored; replayed effects (from our primary, or the AOF)
/// are applied as they are, so the data set matches its source.
pub fn apply(
    key: &Key,
    stored: &Stored,
    state: State,
    now_ms: u64,
    replayed: bool,
) -> Result<(), Unstorable> {
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

/// Runs a data type callback, turning a panic into the callback's failure value.
fn guarded<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(on_panic)
}

/// The state of a value the server hands to a data type callback.
unsafe fn state_of(value: *const c_void) -> Option<State> {
    (!value.is_null()).then(|| unsafe { packed::unpack(value) })
}

unsafe extern "C" fn rdb_save(io: *mut raw::RedisModuleIO, value: *mut c_void) {
    guarded((), || {
        if let Some(state) = unsafe { state_of(value) } {
            let bytes = codec::encode(&state);
            let bytes = bytes.as_bytes();
            call!(RedisModule_SaveStringBuffer(io, bytes.as_ptr().cast::<c_char>(), bytes.len()) else ());
        }
    })
}

unsafe extern "C" fn rdb_load(io: *mut raw::RedisModuleIO, encver: c_int) -> *mut c_void {
    guarded(std::ptr::null_mut(), || {
        if encver != ENCODING_VERSION {
            return std::ptr::null_mut();
        }
        let mut len = 0usize;
        let ptr = call!(RedisModule_LoadStringBuffer(io, &mut len) else std::ptr::null_mut());
        if ptr.is_null() {
            return std::ptr::null_mut();
        }
        let decoded = codec::decode(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) });
        call!(RedisModule_Free(ptr.cast::<c_void>()) else ());
        match decoded {
            Ok(state) => packed::pack(&state),
            Err(_) => std::ptr::null_mut(),
        }
    })
}

unsafe extern "C" fn aof_rewrite(io: *mut raw::RedisModuleIO, key: RString, value: *mut c_void) {
    guarded((), || {
        if let Some(state) = unsafe { state_of(value) } {
            let bytes = codec::encode(&state);
            let bytes = bytes.as_bytes();
            // The server appends the key's PEXPIREAT after this command.
            call!(RedisModule_EmitAOF(
                io,
                SET_STATE_COMMAND.as_ptr(),
                c"sb".as_ptr(),
                key,
                bytes.as_ptr().cast::<c_char>(),
                bytes.len(),
            ) else ());
        }
    })
}

unsafe extern "C" fn mem_usage(value: *const c_void) -> usize {
    packed::size(value)
}

unsafe extern "C" fn digest(md: *mut raw::RedisModuleDigest, value: *mut c_void) {
    guarded((), || {
        if let Some(state) = unsafe { state_of(value) } {
            let bytes = codec::encode(&state);
            let bytes = bytes.as_bytes();
            call!(RedisModule_DigestAddStringBuffer(md, bytes.as_ptr().cast::<c_char>(), bytes.len()) else ());
            call!(RedisModule_DigestEndSequence(md) else ());
        }
    })
}

unsafe extern "C" fn free(value: *mut c_void) {
    if !value.is_null() {
        unsafe { packed::free(value) };
    }
}

unsafe extern "C" fn copy(_from: RString, _to: RString, value: *const c_void) -> *mut c_void {
    guarded(std::ptr::null_mut(), || match unsafe { state_of(value) } {
        Some(state) => packed::pack(&state),
        None => std::ptr::null_mut(),
    })
}
