//! A key opened for the duration of a call, and the value of the module's type inside it.

use std::ffi::{c_int, c_void};

use redis_module::raw;

use super::context::{Ctx, Name};

/// How a key is opened.
#[derive(Clone, Copy)]
pub enum Access {
    Read,
    Write,
}

/// A key opened for the duration of a call, closed on drop (also when unwinding).
pub struct Key<'a> {
    ctx: Ctx<'a>,
    name: Name<'a>,
    ptr: *mut raw::RedisModuleKey,
}

/// The key holds a value of another type.
pub struct OtherType;

impl<'a> Key<'a> {
    pub fn open(ctx: Ctx<'a>, name: Name<'a>, access: Access) -> Key<'a> {
        let mode = match access {
            Access::Read => raw::REDISMODULE_READ,
            Access::Write => raw::REDISMODULE_READ | raw::REDISMODULE_WRITE,
        };
        // SAFETY: `ctx` and `name` are alive for the call; the key is closed on drop.
        let ptr = unsafe { (ctx.api().open_key)(ctx.raw(), name.raw(), mode as c_int) };
        Key { ctx, name, ptr }
    }

    pub fn ctx(&self) -> Ctx<'a> {
        self.ctx
    }

    pub fn name(&self) -> Name<'a> {
        self.name
    }

    fn key_type(&self) -> c_int {
        if self.ptr.is_null() {
            return raw::REDISMODULE_KEYTYPE_EMPTY as c_int;
        }
        // SAFETY: `ptr` is an open key.
        unsafe { (self.ctx.api().key_type)(self.ptr) }
    }

    /// The value when the key holds one of `module_type` (null for an empty key); `Err` for a
    /// key of another type.
    pub fn module_value(
        &self,
        module_type: *mut raw::RedisModuleType,
    ) -> Result<*mut c_void, OtherType> {
        let api = self.ctx.api();
        const EMPTY: c_int = raw::REDISMODULE_KEYTYPE_EMPTY as c_int;
        const MODULE: c_int = raw::REDISMODULE_KEYTYPE_MODULE as c_int;
        match self.key_type() {
            EMPTY => Ok(std::ptr::null_mut()),
            // SAFETY: `ptr` is an open key holding a module value.
            MODULE if unsafe { (api.module_type_get_type)(self.ptr) } == module_type => {
                // SAFETY: as above; the value belongs to the key and to our type.
                Ok(unsafe { (api.module_type_get_value)(self.ptr) })
            }
            _ => Err(OtherType),
        }
    }

    /// Stores a new value, dropping the old one and its TTL; false when the server refused
    /// (the value is still the caller's then).
    pub fn set_module_value(
        &self,
        module_type: *mut raw::RedisModuleType,
        value: *mut c_void,
    ) -> bool {
        if self.ptr.is_null() {
            return false;
        }
        // SAFETY: `ptr` is a key opened for writing; on success the server owns `value`.
        unsafe { (self.ctx.api().module_type_set_value)(self.ptr, module_type, value) == 0 }
    }

    /// Swaps the value of a key of `module_type` for `value`; returns the old one, now the
    /// caller's to free (`None`: nothing swapped, `value` still the caller's).
    pub fn replace_module_value(
        &self,
        module_type: *mut raw::RedisModuleType,
        value: *mut c_void,
    ) -> Option<*mut c_void> {
        if self.ptr.is_null() {
            return None;
        }
        let mut old = std::ptr::null_mut();
        // SAFETY: `ptr` is a key opened for writing that holds a value of `module_type`.
        let replaced = unsafe {
            (self.ctx.api().module_type_replace_value)(self.ptr, module_type, value, &mut old)
        };
        (replaced == raw::REDISMODULE_OK as c_int).then_some(old)
    }

    /// The key's expiry in Unix milliseconds, if it has one.
    pub fn expire_at(&self) -> Option<i64> {
        if self.ptr.is_null() {
            return None;
        }
        // SAFETY: `ptr` is an open key.
        let at = unsafe { (self.ctx.api().get_abs_expire)(self.ptr) };
        (at >= 0).then_some(at)
    }

    pub fn set_expire_at(&self, at_ms: i64) {
        if !self.ptr.is_null() {
            // SAFETY: `ptr` is a key opened for writing.
            unsafe { (self.ctx.api().set_abs_expire)(self.ptr, at_ms) };
        }
    }

    pub fn delete(&self) {
        if !self.ptr.is_null() {
            // SAFETY: `ptr` is a key opened for writing.
            unsafe { (self.ctx.api().delete_key)(self.ptr) };
        }
    }
}

impl Drop for Key<'_> {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            // SAFETY: `ptr` was opened by `open` and is closed once, here.
            unsafe { (self.ctx.api().close_key)(self.ptr) };
        }
    }
}
