//! The module's data type, `ratelimit`: how the server saves, loads, rewrites, copies, digests,
//! measures and frees a key's value. The value is a state, packed (see `packed`); its byte
//! form is `rl_core::codec`'s, which checks every state it reads with the one validity rule.
//!
//! Every callback runs under a panic guard: a bug answers the callback's failure value instead
//! of taking the server down.

use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, Ordering};

use redis_module::native_types::RedisType;
use redis_module::raw;
use rl_core::{codec, Held, Value};

use super::context::Name;
use super::io::{Digest, Io};
use super::packed;

/// The data type's name as `TYPE` shows it (Redis wants exactly 9 characters).
pub const TYPE_NAME: &str = "ratelimit";
/// RDB encoding version of the type. The state bytes carry their own format version too.
const ENCODING_VERSION: i32 = 1;

pub static RATE_LIMIT_TYPE: RedisType = RedisType::new(
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

/// The callbacks each of the module's data types (`ratelimit`, `rl-leases`) gives the server.
pub struct Callbacks {
    pub rdb_load: raw::RedisModuleTypeLoadFunc,
    pub rdb_save: raw::RedisModuleTypeSaveFunc,
    pub aof_rewrite: raw::RedisModuleTypeRewriteFunc,
    pub mem_usage: raw::RedisModuleTypeMemUsageFunc,
    pub digest: raw::RedisModuleTypeDigestFunc,
    pub free: raw::RedisModuleTypeFreeFunc,
    pub copy: raw::RedisModuleTypeCopyFunc,
}

/// The server's method table for `callbacks`, every other callback left unset.
pub const fn type_methods(callbacks: Callbacks) -> raw::RedisModuleTypeMethods {
    raw::RedisModuleTypeMethods {
        version: raw::REDISMODULE_TYPE_METHOD_VERSION as u64,
        rdb_load: callbacks.rdb_load,
        rdb_save: callbacks.rdb_save,
        aof_rewrite: callbacks.aof_rewrite,
        mem_usage: callbacks.mem_usage,
        digest: callbacks.digest,
        free: callbacks.free,
        aux_load: None,
        aux_save: None,
        aux_save_triggers: 0,
        free_effort: None,
        unlink: None,
        copy: callbacks.copy,
        defrag: None,
        mem_usage2: None,
        free_effort2: None,
        unlink2: None,
        copy2: None,
        aux_save2: None,
    }
}

/// The registered type, cached once at load for the hot path.
static TYPE_PTR: AtomicPtr<raw::RedisModuleType> = AtomicPtr::new(std::ptr::null_mut());

/// Remembers the type the server created for `RATE_LIMIT_TYPE` (after it was registered).
pub fn remember() {
    let ptr = *RATE_LIMIT_TYPE.raw_type.borrow();
    TYPE_PTR.store(ptr, Ordering::Relaxed);
}

pub fn module_type() -> *mut raw::RedisModuleType {
    TYPE_PTR.load(Ordering::Relaxed)
}

/// Runs a data type callback, turning a panic into the callback's failure value.
fn guarded<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(on_panic)
}

/// The byte form of a value the server hands a callback.
///
/// # Safety
/// `value` is null or a value of this type (made by `packed`), alive for the call.
unsafe fn bytes_of(value: *const c_void) -> Option<Vec<u8>> {
    // SAFETY: as the caller promises.
    let held = (!value.is_null()).then(|| unsafe { packed::held(value) })?;
    Some(match held {
        Held::State(state) => codec::encode(&state).as_bytes().to_vec(),
        Held::Log(log) => codec::encode_log(log),
    })
}

unsafe extern "C" fn rdb_save(io: *mut raw::RedisModuleIO, value: *mut c_void) {
    guarded((), || {
        // SAFETY: the server passes the stream and a value of this type.
        if let (Some(io), Some(bytes)) = unsafe { (Io::of_call(io), bytes_of(value)) } {
            io.save(&bytes);
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
        // A state that does not decode fails the load, as the server expects of a value it
        // cannot read (RESTORE answers "Bad data format").
        match io.load().map(|bytes| codec::decode_value(&bytes)) {
            Some(Ok(value)) => packed::pack_value(value),
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
        let (io, name, bytes) = unsafe { (Io::of_call(io), Name::of_call(key), bytes_of(value)) };
        if let (Some(io), Some(bytes)) = (io, bytes) {
            // The server appends the key's PEXPIREAT after this command.
            io.emit(super::store::SET_STATE_COMMAND, name, &bytes);
        }
    })
}

unsafe extern "C" fn mem_usage(value: *const c_void) -> usize {
    // SAFETY: the server passes a value of this type, alive during the callback.
    unsafe { packed::size(value) }
}

unsafe extern "C" fn digest(md: *mut raw::RedisModuleDigest, value: *mut c_void) {
    guarded((), || {
        // SAFETY: the server passes the digest and a value of this type.
        if let (Some(md), Some(bytes)) = unsafe { (Digest::of_call(md), bytes_of(value)) } {
            md.add(&bytes);
        }
    })
}

unsafe extern "C" fn free(value: *mut c_void) {
    if !value.is_null() {
        // SAFETY: the server frees a value of this type once, when nothing uses it any more.
        unsafe { packed::free(value) };
    }
}

unsafe extern "C" fn copy(
    _from: *mut raw::RedisModuleString,
    _to: *mut raw::RedisModuleString,
    value: *const c_void,
) -> *mut c_void {
    guarded(std::ptr::null_mut(), || {
        if value.is_null() {
            return std::ptr::null_mut();
        }
        // SAFETY: the server passes a value of this type, alive during the callback.
        let copied: Value = unsafe { packed::held(value) }.to_value();
        packed::pack_value(copied)
    })
}
