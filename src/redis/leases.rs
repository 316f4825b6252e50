//! The module's second data type, `rl-leases`: the concurrency leases of a key (RL.ACQUIRE,
//! RL.RELEASE, RL.RENEW). A key holds either a rate limiter state (`ratelimit`) or leases,
//! never both, so a command of one kind on a key of the other answers WRONGTYPE.
//!
//! The value is an `rl_core::leases::Leases`, boxed; its byte form (RDB, AOF rewrite, effects,
//! digest) is `rl_core::leases::codec`'s, which checks every state it reads with the one
//! validity rule. A key's TTL is the instant its last lease expires; a key whose last lease is
//! released is deleted. Every change reaches replicas and the AOF as its effect,
//! `RL.SETLEASES key <state bytes>` with absolute times inside, never as the command that
//! caused it: a released lease is simply absent from the next effect, so no replica or AOF
//! replay can bring it back.
//!
//! Every data type callback runs under a panic guard: a bug answers the callback's failure
//! value instead of taking the server down.

use std::ffi::{c_int, c_void, CStr};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, Ordering};

use redis_module::native_types::RedisType;
use redis_module::raw;
use rl_core::leases::{codec, Invalid, Leases};
use rl_core::Micros;

use super::context::Name;
use super::datatype::{type_methods, Callbacks};
use super::io::{Digest, Io};
use super::key::{Key, OtherType};
use super::{metrics, notify, propagation};

/// The data type's name as `TYPE` shows it (Redis wants exactly 9 characters).
pub const TYPE_NAME: &str = "rl-leases";
/// RDB encoding version of the type. The state bytes carry their own format version too.
const ENCODING_VERSION: i32 = 1;
/// The command that carries a leases state to replicas and the AOF.
pub const SET_LEASES_COMMAND: &CStr = c"RL.SETLEASES";

pub static LEASES_TYPE: RedisType = RedisType::new(
    TYPE_NAME,
    ENCODING_VERSION,
    type_methods(Callbacks {
        rdb_load: Some(rdb_load),
        rdb_save: Some(rdb_save),
        aof_rewrite: Some(aof_rewrite),
        mem_usage: Some(mem_usage),
        digest: Some(digest),
        free: Some(free),
        copy: Some(copy),
    }),
);

/// The registered type, cached once at load.
static TYPE_PTR: AtomicPtr<raw::RedisModuleType> = AtomicPtr::new(std::ptr::null_mut());

/// Remembers the type the server created for `LEASES_TYPE` (after it was registered).
pub fn remember() {
    let ptr = *LEASES_TYPE.raw_type.borrow();
    TYPE_PTR.store(ptr, Ordering::Relaxed);
}

fn module_type() -> *mut raw::RedisModuleType {
    TYPE_PTR.load(Ordering::Relaxed)
}

/// A value of this type: the state, boxed.
fn boxed(leases: Leases) -> *mut c_void {
    Box::into_raw(Box::new(leases)).cast()
}

/// The leases of a value the server hands a callback or a key holds.
///
/// # Safety
/// `value` is null or a value of this type (made by `boxed`), alive and not written for 'a.
unsafe fn leases_of<'a>(value: *const c_void) -> Option<&'a Leases> {
    // SAFETY: as the caller promises.
    unsafe { value.cast::<Leases>().as_ref() }
}

/// Runs a data type callback, turning a panic into the callback's failure value.
fn guarded<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(on_panic)
}

unsafe extern "C" fn rdb_save(io: *mut raw::RedisModuleIO, value: *mut c_void) {
    guarded((), || {
        // SAFETY: the server passes the stream and a value of this type.
        if let (Some(io), Some(leases)) = unsafe { (Io::of_call(io), leases_of(value)) } {
            io.save(&codec::encode(leases));
        }
    })
}

unsafe extern "C" fn rdb_load(io: *mut raw::RedisModuleIO, encver: c_int) -> *mut c_void {
    guarded(std::ptr::null_mut(), || {
        if encver != ENCODING_VERSION {
            return std::ptr::null_mut();
        }
        // SAFETY: the server passes the stream being loaded.
        let Some(io) = (unsafe { Io::of_call(io) }) else {
            return std::ptr::null_mut();
        };
        // A state that does not decode fails the load (RESTORE answers "Bad data format").
        match io.load().map(|bytes| codec::decode(&bytes)) {
            Some(Ok(leases)) => boxed(leases),
            _ => std::ptr::null_mut(),
        }
    })
}

unsafe extern "C" fn aof_rewrite(
    io: *mut raw::RedisModuleIO,
    key: *mut raw::RedisModuleString,
    value: *mut c_void,
) {
    guarded((), || {
        // SAFETY: the server passes the stream, the key's name and a value of this type, all
        // alive during the callback.
        let (io, name, leases) = unsafe { (Io::of_call(io), Name::of_call(key), leases_of(value)) };
        if let (Some(io), Some(leases)) = (io, leases) {
            // The server appends the key's PEXPIREAT after this command.
            io.emit(SET_LEASES_COMMAND, name, &codec::encode(leases));
        }
    })
}

unsafe extern "C" fn mem_usage(value: *const c_void) -> usize {
    // SAFETY: the server passes a value of this type.
    guarded(0, || match unsafe { leases_of(value) } {
        Some(leases) => std::mem::size_of::<Leases>() + leases.heap_size(),
        None => 0,
    })
}

unsafe extern "C" fn digest(md: *mut raw::RedisModuleDigest, value: *mut c_void) {
    guarded((), || {
        // SAFETY: the server passes the digest and a value of this type.
        if let (Some(md), Some(leases)) = unsafe { (Digest::of_call(md), leases_of(value)) } {
            md.add(&codec::encode(leases));
        }
    })
}

unsafe extern "C" fn free(value: *mut c_void) {
    if !value.is_null() {
        // SAFETY: the server frees a value of this type once, when nothing uses it any more;
        // it was made by `boxed`.
        drop(unsafe { Box::from_raw(value.cast::<Leases>()) });
    }
}

unsafe extern "C" fn copy(
    _from: *mut raw::RedisModuleString,
    _to: *mut raw::RedisModuleString,
    value: *const c_void,
) -> *mut c_void {
    // SAFETY: the server passes a value of this type, alive during the callback.
    guarded(std::ptr::null_mut(), || match unsafe { leases_of(value) } {
        Some(leases) => boxed(leases.clone()),
        None => std::ptr::null_mut(),
    })
}

/// The value of an open key: its leases, or nothing for an empty key. It borrows the key, and
/// `write` consumes it, so the leases cannot be read after they were replaced.
pub struct Stored<'k> {
    value: *mut c_void,
    key: PhantomData<&'k ()>,
}

impl Stored<'_> {
    pub fn leases(&self) -> Option<&Leases> {
        // SAFETY: `value` is the open key's value of this type (or null), unchanged while this
        // borrow of the key lives.
        unsafe { leases_of(self.value) }
    }
}

/// The leases stored at an open key; `Err` for a key of another type.
pub fn read<'k>(key: &'k Key<'_>) -> Result<Stored<'k>, OtherType> {
    Ok(Stored {
        value: key.module_value(module_type())?,
        key: PhantomData,
    })
}

/// When the last lease of a leases key expires (`None` for any other key).
pub fn last_expiry(key: &Key) -> Option<Micros> {
    read(key).ok()?.leases()?.expires_at()
}

/// A state the module may not hold (see `Leases::validate`): never stored.
#[derive(Debug)]
pub struct Unstorable(pub Invalid);

/// Stores `leases` at the key in place of `stored`, sets the TTL to the last lease's expiry,
/// announces the change as `event` and propagates it. A state without leases deletes the key.
pub fn write(key: &Key, stored: Stored, leases: Leases, event: &CStr) -> Result<(), Unstorable> {
    let existed = !stored.value.is_null();
    let Some(expires_at) = leases.expires_at() else {
        delete(key, existed);
        return Ok(());
    };
    leases.validate().map_err(Unstorable)?;
    let effect = propagation::has_listeners().then(|| codec::encode(&leases));
    if existed {
        // SAFETY: the key's value, made by `boxed`; `stored` was consumed, so nothing reads
        // it meanwhile. The old state is dropped here.
        unsafe { *stored.value.cast::<Leases>() = leases };
    } else {
        let value = boxed(leases);
        if !key.set_module_value(module_type(), value) {
            // SAFETY: the server refused the value, which is still ours.
            unsafe { free(value) };
            return Ok(());
        }
    }
    let expire_ms = i64::try_from(expires_at.ceil_millis()).unwrap_or(i64::MAX);
    if key.expire_at() != Some(expire_ms) {
        key.set_expire_at(expire_ms);
    }
    key.ctx().signal_modified(key.name());
    notify::changed(key.ctx(), event, key.name());
    match effect {
        Some(bytes) => {
            metrics::record_change(true);
            key.ctx().replicate(SET_LEASES_COMMAND, key.name(), &bytes);
        }
        None => count_change(key),
    }
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

/// Counts a change towards the save points without building its effect (see `store`).
fn count_change(key: &Key) {
    metrics::record_change(false);
    key.ctx().replicate_verbatim();
}

/// Applies a state received as an effect (`RL.SETLEASES`). On a primary serving a client, a
/// state whose last lease expired already is not stored; replayed effects (from our primary,
/// or the AOF) are applied as they are, so the data set matches its source.
pub fn apply(key: &Key, stored: Stored, leases: Leases, replayed: bool) -> Result<(), Unstorable> {
    let now_ms = key.ctx().now().as_micros() / 1000;
    match leases.expires_at() {
        Some(at) if replayed || at.ceil_millis() > now_ms => {
            write(key, stored, leases, notify::SET_LEASES)
        }
        _ => {
            delete(key, !stored.value.is_null());
            Ok(())
        }
    }
}
