//! Thin wrappers over the server's module API: the only place that touches its raw pointers
//! outside the data type callbacks.
//!
//! The server fills the function table when the module loads; functions it lacks (older
//! servers) stay empty. `lib.rs` refuses to load when a function listed in `REQUIRED` is
//! missing, so the wrappers below treat an empty entry as unreachable and do nothing.

use std::ffi::{c_char, c_int, c_void, CString};

use redis_module::raw;

use crate::limiter::Micros;

pub type Ctx = *mut raw::RedisModuleCtx;
pub type RString = *mut raw::RedisModuleString;

/// Calls a module API function, or evaluates `$missing` when the server lacks it.
macro_rules! call {
    ($name:ident($($arg:expr),* $(,)?) else $missing:expr) => {
        match unsafe { raw::$name } {
            Some(f) => unsafe { f($($arg),*) },
            None => $missing,
        }
    };
}
pub(crate) use call;

/// The API functions every command relies on.
pub fn missing_required() -> Option<&'static str> {
    macro_rules! check {
        ($($name:ident),*) => {
            $(if unsafe { raw::$name }.is_none() { return Some(stringify!($name)); })*
        };
    }
    check!(
        RedisModule_StringPtrLen,
        RedisModule_OpenKey,
        RedisModule_CloseKey,
        RedisModule_KeyType,
        RedisModule_ModuleTypeGetType,
        RedisModule_ModuleTypeGetValue,
        RedisModule_ModuleTypeSetValue,
        RedisModule_ModuleTypeReplaceValue,
        RedisModule_DeleteKey,
        RedisModule_SetAbsExpire,
        RedisModule_GetAbsExpire,
        RedisModule_Replicate,
        RedisModule_ReplicateVerbatim,
        RedisModule_ReplyWithArray,
        RedisModule_ReplyWithLongLong,
        RedisModule_ReplyWithError,
        RedisModule_ReplyWithSimpleString,
        RedisModule_WrongArity,
        RedisModule_GetContextFlags,
        RedisModule_SignalModifiedKey,
        RedisModule_SetCommandInfo,
        RedisModule_GetCommand
    );
    None
}

/// The bytes of a string argument. Valid while the argument is.
pub fn bytes<'a>(s: RString) -> &'a [u8] {
    let mut len = 0usize;
    let ptr = call!(RedisModule_StringPtrLen(s, &mut len) else std::ptr::null());
    if ptr.is_null() {
        return &[];
    }
    unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) }
}

/// The command's arguments as a slice.
///
/// # Safety
/// `argv` must hold `argc` valid strings, as the server passes to a command.
pub unsafe fn args<'a>(argv: *mut RString, argc: c_int) -> &'a [RString] {
    match usize::try_from(argc) {
        Ok(len) if !argv.is_null() => unsafe { std::slice::from_raw_parts(argv, len) },
        _ => &[],
    }
}

/// Now, for the limiter: the server's command-time snapshot where it offers one (Redis 7.2+,
/// the same instant for every command of a MULTI/EXEC or script), otherwise the wall clock.
pub fn now() -> Micros {
    let us = call!(RedisModule_CachedMicroseconds() else wall_clock_us());
    Micros(u64::try_from(us).unwrap_or(0))
}

fn wall_clock_us() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec.saturating_mul(1_000_000) + ts.tv_nsec / 1_000
}

/// Valkey's module option for atomic slot migration (`CLUSTER MIGRATESLOTS`, Valkey 9.0+).
/// Redis numbers its own options differently, so it is only set on Valkey.
pub const VALKEY_OPTION_ATOMIC_SLOT_MIGRATION: u32 = 1 << 5;

/// True on a Valkey server that offers atomic slot migration to modules.
pub fn has_atomic_slot_migration(ctx: Ctx) -> bool {
    let all = call!(RedisModule_GetModuleOptionsAll() else 0);
    (all as u32) & VALKEY_OPTION_ATOMIC_SLOT_MIGRATION != 0 && is_valkey(ctx)
}

/// True when `INFO server` names a Valkey version.
fn is_valkey(ctx: Ctx) -> bool {
    let info = call!(RedisModule_GetServerInfo(ctx, c"server".as_ptr()) else std::ptr::null_mut());
    if info.is_null() {
        return false;
    }
    let version = call!(RedisModule_ServerInfoGetFieldC(info, c"valkey_version".as_ptr()) else std::ptr::null());
    call!(RedisModule_FreeServerInfo(ctx, info) else ());
    !version.is_null()
}

pub fn context_flags(ctx: Ctx) -> u32 {
    call!(RedisModule_GetContextFlags(ctx) else 0) as u32
}

/// True when the running command arrived from our primary or from the AOF being loaded: it
/// must be applied as given, whatever the local clock says.
pub fn is_replayed(ctx: Ctx) -> bool {
    let flags = context_flags(ctx);
    flags & (raw::REDISMODULE_CTX_FLAGS_REPLICATED | raw::REDISMODULE_CTX_FLAGS_LOADING) != 0
}

/// True when the server calls a `getkeys-api` command only to learn where its keys are.
pub fn is_keys_position_request(ctx: Ctx) -> bool {
    call!(RedisModule_IsKeysPositionRequest(ctx) else 0) != 0
}

/// Answers a keys position request: argument `pos` is a key, accessed as `flags` says.
pub fn declare_key(ctx: Ctx, pos: usize, flags: u32) {
    let pos = c_int::try_from(pos).unwrap_or(c_int::MAX);
    match unsafe { raw::RedisModule_KeyAtPosWithFlags } {
        Some(f) => unsafe { f(ctx, pos, flags as c_int) },
        None => call!(RedisModule_KeyAtPos(ctx, pos) else ()),
    }
}

pub fn reply_integers(ctx: Ctx, values: &[i64]) {
    call!(RedisModule_ReplyWithArray(ctx, values.len() as _) else 0);
    for &v in values {
        call!(RedisModule_ReplyWithLongLong(ctx, v) else 0);
    }
}

pub fn reply_ok(ctx: Ctx) {
    call!(RedisModule_ReplyWithSimpleString(ctx, c"OK".as_ptr()) else 0);
}

/// An error reply. `message` starts with the error code (`ERR`, `WRONGTYPE`).
pub fn reply_error(ctx: Ctx, message: &str) {
    // Interior NULs cannot come from our messages, which only echo printable ASCII.
    let text = CString::new(message.replace('\0', "?")).unwrap_or_default();
    call!(RedisModule_ReplyWithError(ctx, text.as_ptr()) else 0);
}

pub fn reply_wrong_type(ctx: Ctx) {
    let text = raw::REDISMODULE_ERRORMSG_WRONGTYPE
        .as_ptr()
        .cast::<c_char>();
    call!(RedisModule_ReplyWithError(ctx, text) else 0);
}

pub fn reply_wrong_arity(ctx: Ctx) {
    call!(RedisModule_WrongArity(ctx) else 0);
}

/// A key opened for the duration of a command, closed on drop (also when unwinding).
pub struct Key {
    ctx: Ctx,
    name: RString,
    ptr: *mut raw::RedisModuleKey,
}

impl Key {
    pub fn open(ctx: Ctx, name: RString, mode: u32) -> Key {
        let ptr = call!(RedisModule_OpenKey(ctx, name, mode as c_int) else std::ptr::null_mut());
        Key { ctx, name, ptr }
    }

    pub fn ctx(&self) -> Ctx {
        self.ctx
    }

    pub fn name(&self) -> RString {
        self.name
    }

    pub fn is_empty(&self) -> bool {
        self.ptr.is_null()
            || call!(RedisModule_KeyType(self.ptr) else 0)
                == raw::REDISMODULE_KEYTYPE_EMPTY as c_int
    }

    /// The value when the key holds a value of `module_type`; `Err` for another type.
    pub fn module_value(&self, module_type: *mut raw::RedisModuleType) -> Result<*mut c_void, ()> {
        if self.is_empty() {
            return Ok(std::ptr::null_mut());
        }
        let is_module =
            call!(RedisModule_KeyType(self.ptr) else 0) == raw::REDISMODULE_KEYTYPE_MODULE as c_int;
        if !is_module
            || call!(RedisModule_ModuleTypeGetType(self.ptr) else std::ptr::null_mut())
                != module_type
        {
            return Err(());
        }
        Ok(call!(RedisModule_ModuleTypeGetValue(self.ptr) else std::ptr::null_mut()))
    }

    /// Stores a new value, dropping the old one and its TTL.
    pub fn set_module_value(
        &self,
        module_type: *mut raw::RedisModuleType,
        value: *mut c_void,
    ) -> bool {
        call!(RedisModule_ModuleTypeSetValue(self.ptr, module_type, value) else 1) == 0
    }

    /// Swaps the value of a key of `module_type` for `value`; returns the old one, now the
    /// caller's to free.
    pub fn replace_module_value(
        &self,
        module_type: *mut raw::RedisModuleType,
        value: *mut c_void,
    ) -> Option<*mut c_void> {
        let mut old = std::ptr::null_mut();
        let replaced = call!(RedisModule_ModuleTypeReplaceValue(self.ptr, module_type, value, &mut old) else 1);
        (replaced == raw::REDISMODULE_OK as c_int).then_some(old)
    }

    /// The key's expiry in Unix milliseconds, if it has one.
    pub fn expire_at(&self) -> Option<i64> {
        let at = call!(RedisModule_GetAbsExpire(self.ptr) else -1);
        (at >= 0).then_some(at)
    }

    pub fn set_expire_at(&self, at_ms: i64) {
        call!(RedisModule_SetAbsExpire(self.ptr, at_ms) else 0);
    }

    pub fn delete(&self) {
        call!(RedisModule_DeleteKey(self.ptr) else 0);
    }

    /// Tells WATCH and client-side caching that the key changed (the module turns off the
    /// implicit signal on every write-open, so that a denied hit touches nothing).
    pub fn signal_modified(&self) {
        call!(RedisModule_SignalModifiedKey(self.ctx, self.name) else 0);
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            call!(RedisModule_CloseKey(self.ptr) else ());
        }
    }
}
