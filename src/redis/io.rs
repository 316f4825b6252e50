//! Safe types over what the server hands the data type's persistence callbacks: an RDB or AOF
//! stream, and a digest, each valid during the callback.

use std::ffi::{c_char, CStr};
use std::marker::PhantomData;

use redis_module::raw;

use super::api::{self, Api};
use super::context::Name;

/// An RDB or AOF stream, during a save, load or rewrite callback.
pub struct Io<'a> {
    raw: *mut raw::RedisModuleIO,
    api: &'static Api,
    call: PhantomData<&'a ()>,
}

impl<'a> Io<'a> {
    /// The stream the server passed to a callback; `None` when there is none.
    ///
    /// # Safety
    /// `raw` is the stream the server passed to the running callback.
    pub unsafe fn of_call(raw: *mut raw::RedisModuleIO) -> Option<Io<'a>> {
        (!raw.is_null()).then_some(())?;
        Some(Io {
            raw,
            api: api::get()?,
            call: PhantomData,
        })
    }

    pub fn save(&self, bytes: &[u8]) {
        // SAFETY: `raw` is the live stream of this callback; the buffer and its length.
        unsafe {
            (self.api.save_string_buffer)(self.raw, bytes.as_ptr().cast::<c_char>(), bytes.len())
        };
    }

    /// The next string of the stream, or `None` when it cannot be read (the server then
    /// reports the error, as the module asks with HANDLE_IO_ERRORS).
    pub fn load(&self) -> Option<Vec<u8>> {
        let mut len = 0usize;
        // SAFETY: `raw` is the live stream of this callback.
        let ptr = unsafe { (self.api.load_string_buffer)(self.raw, &mut len) };
        if ptr.is_null() {
            return None;
        }
        // SAFETY: the server returned `len` bytes at `ptr`, ours until freed below.
        let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) }.to_vec();
        // SAFETY: `ptr` was allocated by the server for us, and is freed once.
        unsafe { (self.api.free)(ptr.cast()) };
        Some(bytes)
    }

    /// Writes `command key value` to the AOF being rewritten.
    pub fn emit(&self, command: &CStr, key: Name<'_>, value: &[u8]) {
        // SAFETY: `raw` is the live stream of an AOF rewrite callback; the format "sb" takes a
        // server string (the key, alive during the callback) and a buffer with its length.
        unsafe {
            (self.api.emit_aof)(
                self.raw,
                command.as_ptr(),
                c"sb".as_ptr(),
                key.raw(),
                value.as_ptr().cast::<c_char>(),
                value.len(),
            )
        };
    }
}

/// The digest `DEBUG DIGEST` builds, during the digest callback.
pub struct Digest<'a> {
    raw: *mut raw::RedisModuleDigest,
    api: &'static Api,
    call: PhantomData<&'a ()>,
}

impl<'a> Digest<'a> {
    /// # Safety
    /// `raw` is the digest the server passed to the running callback.
    pub unsafe fn of_call(raw: *mut raw::RedisModuleDigest) -> Option<Digest<'a>> {
        (!raw.is_null()).then_some(())?;
        Some(Digest {
            raw,
            api: api::get()?,
            call: PhantomData,
        })
    }

    /// Adds `bytes` as one element and ends the value.
    pub fn add(&self, bytes: &[u8]) {
        // SAFETY: `raw` is the live digest of this callback; the buffer and its length.
        unsafe {
            (self.api.digest_add_string_buffer)(
                self.raw,
                bytes.as_ptr().cast::<c_char>(),
                bytes.len(),
            );
            (self.api.digest_end_sequence)(self.raw);
        }
    }
}
