//! Safe types over what the server hands a command: its context, valid for the call, and its
//! arguments, which borrow from it.

use std::ffi::{c_char, c_int, c_long, CStr, CString};
use std::marker::PhantomData;

use redis_module::raw;
use rl_core::Micros;

use super::api::{self, Api};

/// The context of one call from the server (a command, a callback), valid during it.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    raw: *mut raw::RedisModuleCtx,
    api: &'static Api,
    call: PhantomData<&'a ()>,
}

/// One argument of a command, valid during the call.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct Arg<'a> {
    raw: *mut raw::RedisModuleString,
    call: PhantomData<&'a ()>,
}

impl<'a> Arg<'a> {
    pub fn bytes(self) -> &'a [u8] {
        let Some(api) = api::get() else { return &[] };
        let mut len = 0usize;
        // SAFETY: the server keeps the argument alive for the call, which 'a spans.
        let ptr = unsafe { (api.string_ptr_len)(self.raw, &mut len) };
        if ptr.is_null() {
            return &[];
        }
        // SAFETY: the server returned `len` readable bytes at `ptr`, valid while the argument
        // is, that is for 'a.
        unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) }
    }

    pub(super) fn raw(self) -> *mut raw::RedisModuleString {
        self.raw
    }
}

impl<'a> Ctx<'a> {
    /// The context and arguments of a call.
    ///
    /// # Safety
    /// `ctx` is the context the server passed to the running command, and `argv` holds
    /// `argc` arguments, as the server passes them; both live for 'a.
    pub unsafe fn of_command(
        ctx: *mut raw::RedisModuleCtx,
        argv: *mut *mut raw::RedisModuleString,
        argc: c_int,
    ) -> Option<(Ctx<'a>, &'a [Arg<'a>])> {
        let ctx = Ctx::of_call(ctx)?;
        let args = match usize::try_from(argc) {
            // SAFETY: `Arg` is a transparent wrapper over the argument pointer, and the
            // server passes `argc` of them at `argv`, alive for the call.
            Ok(len) if !argv.is_null() => unsafe {
                std::slice::from_raw_parts(argv.cast::<Arg<'a>>(), len)
            },
            _ => &[],
        };
        Some((ctx, args))
    }

    /// The context the server passed to a callback; `None` before the module loaded.
    pub fn of_call(ctx: *mut raw::RedisModuleCtx) -> Option<Ctx<'a>> {
        (!ctx.is_null()).then_some(())?;
        Some(Ctx {
            raw: ctx,
            api: api::get()?,
            call: PhantomData,
        })
    }

    pub(super) fn raw(self) -> *mut raw::RedisModuleCtx {
        self.raw
    }

    pub(super) fn api(self) -> &'static Api {
        self.api
    }

    /// Now, for the limiter: the server's command-time snapshot where it offers one (Redis
    /// 7.2+, Valkey: the same instant for every command of a MULTI/EXEC or script),
    /// otherwise the wall clock.
    pub fn now(self) -> Micros {
        let us = match self.api.cached_microseconds {
            // SAFETY: a plain read of the server's clock.
            Some(f) => unsafe { f() },
            None => wall_clock_us(),
        };
        Micros::from_micros(u64::try_from(us).unwrap_or(0))
    }

    pub fn flags(self) -> u32 {
        // SAFETY: `raw` is the live context of this call.
        unsafe { (self.api.get_context_flags)(self.raw) as u32 }
    }

    /// True when the running command arrived from our primary (or, on Valkey, a slot being
    /// imported) or from the AOF being loaded: it must be applied as given, whatever the local
    /// clock says.
    pub fn is_replayed(self) -> bool {
        self.flags() & (raw::REDISMODULE_CTX_FLAGS_REPLICATED | raw::REDISMODULE_CTX_FLAGS_LOADING)
            != 0
    }

    /// True when the server calls a `getkeys-api` command only to learn where its keys are.
    pub fn is_keys_position_request(self) -> bool {
        // SAFETY: `raw` is the live context of this call.
        unsafe { (self.api.is_keys_position_request)(self.raw) != 0 }
    }

    /// Answers a keys position request: argument `pos` is a key, accessed as `flags` says.
    pub fn declare_key(self, pos: usize, flags: u32) {
        let pos = c_int::try_from(pos).unwrap_or(c_int::MAX);
        // SAFETY: `raw` is the live context of a keys position request.
        unsafe {
            match self.api.key_at_pos_with_flags {
                Some(f) => f(self.raw, pos, flags as c_int),
                None => (self.api.key_at_pos)(self.raw, pos),
            }
        }
    }

    pub fn reply_integers(self, values: &[i64]) {
        // SAFETY: `raw` is the live context of this call; an array of that many integers.
        unsafe {
            (self.api.reply_with_array)(self.raw, values.len() as c_long);
            for &v in values {
                (self.api.reply_with_long_long)(self.raw, v);
            }
        }
    }

    pub fn reply_integer(self, value: i64) {
        // SAFETY: `raw` is the live context of this call.
        unsafe { (self.api.reply_with_long_long)(self.raw, value) };
    }

    /// An array of integers followed by one bulk string, or a nil in its place.
    pub fn reply_integers_and_bulk(self, values: &[i64], last: Option<&[u8]>) {
        // SAFETY: `raw` is the live context of this call; an array of that many integers and
        // one more element; the buffer and its length, copied by the server.
        unsafe {
            (self.api.reply_with_array)(self.raw, values.len() as c_long + 1);
            for &v in values {
                (self.api.reply_with_long_long)(self.raw, v);
            }
            match last {
                Some(bytes) => {
                    (self.api.reply_with_string_buffer)(
                        self.raw,
                        bytes.as_ptr().cast::<c_char>(),
                        bytes.len(),
                    );
                }
                None => {
                    (self.api.reply_with_null)(self.raw);
                }
            }
        }
    }

    pub fn reply_ok(self) {
        // SAFETY: `raw` is the live context of this call; the text is NUL-terminated.
        unsafe { (self.api.reply_with_simple_string)(self.raw, c"OK".as_ptr()) };
    }

    /// An error reply. `message` starts with the error code (`ERR`, `WRONGTYPE`).
    pub fn reply_error(self, message: &str) {
        // Messages echo printable ASCII only; a NUL would end the text early.
        let text = CString::new(message.replace('\0', "?")).unwrap_or_default();
        // SAFETY: `raw` is the live context of this call; `text` is NUL-terminated.
        unsafe { (self.api.reply_with_error)(self.raw, text.as_ptr()) };
    }

    pub fn reply_wrong_arity(self) {
        // SAFETY: `raw` is the live context of this call.
        unsafe { (self.api.wrong_arity)(self.raw) };
    }

    /// Counts a change towards the save points (and replicates the command as sent, which the
    /// server only does where something listens).
    pub fn replicate_verbatim(self) {
        // SAFETY: `raw` is the live context of this call.
        unsafe { (self.api.replicate_verbatim)(self.raw) };
    }

    /// Propagates `command key value` to replicas and the AOF.
    pub fn replicate(self, command: &CStr, key: Name<'_>, value: &[u8]) {
        // SAFETY: `raw` is the live context of this call; the format "sb" takes a server
        // string (the key, alive for the call) and a buffer with its length.
        unsafe {
            (self.api.replicate)(
                self.raw,
                command.as_ptr(),
                c"sb".as_ptr(),
                key.raw,
                value.as_ptr().cast::<c_char>(),
                value.len(),
            )
        };
    }

    /// Propagates `DEL key`.
    pub fn replicate_del(self, key: Name<'_>) {
        // SAFETY: `raw` is the live context of this call; "s" takes a server string.
        unsafe { (self.api.replicate)(self.raw, c"DEL".as_ptr(), c"s".as_ptr(), key.raw) };
    }

    /// Publishes the keyspace event `event` of class `class` on `key`.
    pub fn notify(self, class: c_int, event: &CStr, key: Name<'_>) {
        // SAFETY: `raw` is the live context of this call; the event is NUL-terminated.
        unsafe { (self.api.notify_keyspace_event)(self.raw, class, event.as_ptr(), key.raw) };
    }

    /// The keyspace event classes the server publishes (`notify-keyspace-events`).
    pub fn notified_classes(self) -> c_int {
        // SAFETY: a plain read of the server's configuration.
        unsafe { (self.api.get_notify_keyspace_events)() }
    }

    /// Tells WATCH and client-side caching that `key` changed.
    pub fn signal_modified(self, key: Name<'_>) {
        // SAFETY: `raw` is the live context of this call, `key` alive during it.
        unsafe { (self.api.signal_modified_key)(self.raw, key.raw) };
    }

    /// A field of an `INFO` section, as text (`None` when absent).
    pub fn info_field(self, section: &CStr, field: &CStr) -> Option<String> {
        self.with_info(section, |info| {
            // SAFETY: `info` is alive until `with_info` frees it, after this closure.
            let text = unsafe { (self.api.server_info_get_field_c)(info, field.as_ptr()) };
            // SAFETY: a non-null field is a NUL-terminated string owned by `info`.
            (!text.is_null()).then(|| unsafe { CStr::from_ptr(text) }.to_string_lossy().into())
        })
        .flatten()
    }

    /// A numeric field of an `INFO` section (`None` when absent or not a number).
    pub fn info_number(self, section: &CStr, field: &CStr) -> Option<i64> {
        self.with_info(section, |info| {
            let mut err: c_int = 0;
            // SAFETY: `info` is alive until `with_info` frees it, after this closure.
            let value =
                unsafe { (self.api.server_info_get_field_signed)(info, field.as_ptr(), &mut err) };
            (err == 0).then_some(value)
        })
        .flatten()
    }

    fn with_info<T>(
        self,
        section: &CStr,
        read: impl FnOnce(*mut raw::RedisModuleServerInfoData) -> T,
    ) -> Option<T> {
        // SAFETY: `raw` is the live context of this call; the section is NUL-terminated.
        let info = unsafe { (self.api.get_server_info)(self.raw, section.as_ptr()) };
        if info.is_null() {
            return None;
        }
        let value = read(info);
        // SAFETY: `info` came from `get_server_info` with this context and is freed once.
        unsafe { (self.api.free_server_info)(self.raw, info) };
        Some(value)
    }
}

/// A key's name: a command argument, or a string the server handed a callback.
#[derive(Clone, Copy)]
pub struct Name<'a> {
    raw: *mut raw::RedisModuleString,
    call: PhantomData<&'a ()>,
}

impl<'a> From<Arg<'a>> for Name<'a> {
    fn from(arg: Arg<'a>) -> Name<'a> {
        Name {
            raw: arg.raw(),
            call: PhantomData,
        }
    }
}

impl<'a> Name<'a> {
    /// A name the server passed to a callback.
    ///
    /// # Safety
    /// `raw` is a live server string for 'a.
    pub unsafe fn of_call(raw: *mut raw::RedisModuleString) -> Name<'a> {
        Name {
            raw,
            call: PhantomData,
        }
    }

    pub(super) fn raw(self) -> *mut raw::RedisModuleString {
        self.raw
    }
}

/// A copy of a name, owned until dropped (freed with the context it was made in).
pub struct OwnedName<'a> {
    ctx: Ctx<'a>,
    raw: *mut raw::RedisModuleString,
}

impl<'a> OwnedName<'a> {
    pub fn copy(ctx: Ctx<'a>, name: Name<'_>) -> Option<OwnedName<'a>> {
        // SAFETY: `ctx` is live, and `name` alive during this call.
        let raw = unsafe { (ctx.api.create_string_from_string)(ctx.raw, name.raw) };
        (!raw.is_null()).then_some(OwnedName { ctx, raw })
    }

    pub fn name(&self) -> Name<'_> {
        Name {
            raw: self.raw,
            call: PhantomData,
        }
    }
}

impl Drop for OwnedName<'_> {
    fn drop(&mut self) {
        // SAFETY: `raw` was created with this context and is freed once.
        unsafe { (self.ctx.api.free_string)(self.ctx.raw, self.raw) };
    }
}

fn wall_clock_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}
