//! What the module asks of the server while it loads: options, configs, commands, ACL
//! categories, the INFO section and the events it follows. Each returns whether the server
//! agreed, so that the module refuses to load rather than run half set up.

use std::ffi::{c_char, c_int, c_uint, CStr};

use redis_module::raw;

use super::api::{self, Api};
use super::context::Ctx;

/// Whether the server agreed.
fn ok(status: c_int) -> bool {
    status == raw::REDISMODULE_OK as c_int
}

impl Ctx<'_> {
    pub fn set_module_options(self, options: u32) {
        // SAFETY: the live context of OnLoad; options are bit flags.
        unsafe { (self.api().set_module_options)(self.raw(), options as c_int) };
    }

    /// The module options this server knows, where it says (Redis 7.2+, Valkey).
    pub fn module_options_all(self) -> Option<u32> {
        // SAFETY: a plain read of the server's constants.
        self.api()
            .get_module_options_all
            .map(|f| unsafe { f() } as u32)
    }

    pub fn subscribe_to_server_event(
        self,
        id: u64,
        callback: raw::RedisModuleEventCallback,
    ) -> bool {
        let event = raw::RedisModuleEvent { id, dataver: 1 };
        // SAFETY: the live context of OnLoad; the callback lives as long as the module.
        ok(unsafe { (self.api().subscribe_to_server_event)(self.raw(), event, callback) })
    }

    pub fn subscribe_to_keyspace_events(
        self,
        classes: c_int,
        callback: raw::RedisModuleNotificationFunc,
    ) -> bool {
        // SAFETY: the live context of OnLoad; the callback lives as long as the module.
        ok(unsafe { (self.api().subscribe_to_keyspace_events)(self.raw(), classes, callback) })
    }

    pub fn register_info(self, callback: raw::RedisModuleInfoFunc) -> bool {
        // SAFETY: the live context of OnLoad; the callback lives as long as the module.
        ok(unsafe { (self.api().register_info_func)(self.raw(), callback) })
    }

    /// An enum config `name` with these values (their index is their number).
    pub fn register_enum_config(
        self,
        name: &CStr,
        default: c_int,
        flags: c_uint,
        values: &[&CStr],
        get: raw::RedisModuleConfigGetEnumFunc,
        set: raw::RedisModuleConfigSetEnumFunc,
    ) -> bool {
        let mut names: Vec<*const c_char> = values.iter().map(|n| n.as_ptr()).collect();
        let numbers: Vec<c_int> = (0..values.len() as c_int).collect();
        // SAFETY: the live context of OnLoad; the server copies the names and numbers, which
        // live until it returns; the callbacks live as long as the module.
        ok(unsafe {
            (self.api().register_enum_config)(
                self.raw(),
                name.as_ptr(),
                default,
                flags,
                names.as_mut_ptr(),
                numbers.as_ptr(),
                numbers.len() as c_int,
                get,
                set,
                None,
                std::ptr::null_mut(),
            )
        })
    }

    pub fn register_bool_config(
        self,
        name: &CStr,
        default: bool,
        flags: c_uint,
        get: raw::RedisModuleConfigGetBoolFunc,
        set: raw::RedisModuleConfigSetBoolFunc,
    ) -> bool {
        // SAFETY: the live context of OnLoad; the callbacks live as long as the module.
        ok(unsafe {
            (self.api().register_bool_config)(
                self.raw(),
                name.as_ptr(),
                c_int::from(default),
                flags,
                get,
                set,
                None,
                std::ptr::null_mut(),
            )
        })
    }

    /// A numeric config `name` from `min` to `max`.
    pub fn register_numeric_config(
        self,
        name: &CStr,
        default: i64,
        (min, max): (i64, i64),
        get: raw::RedisModuleConfigGetNumericFunc,
        set: raw::RedisModuleConfigSetNumericFunc,
    ) -> bool {
        // SAFETY: the live context of OnLoad; the callbacks live as long as the module.
        ok(unsafe {
            (self.api().register_numeric_config)(
                self.raw(),
                name.as_ptr(),
                default,
                raw::REDISMODULE_CONFIG_DEFAULT,
                min,
                max,
                get,
                set,
                None,
                std::ptr::null_mut(),
            )
        })
    }

    /// Applies the server's `rl.*` config lines to the registered configs.
    pub fn load_configs(self) -> bool {
        // SAFETY: the live context of OnLoad.
        ok(unsafe { (self.api().load_configs)(self.raw()) })
    }

    /// Creates a command; false when the server refused (an unknown flag registers nothing).
    pub fn create_command(
        self,
        name: &CStr,
        entry: raw::RedisModuleCmdFunc,
        flags: &CStr,
        (first, last, step): (c_int, c_int, c_int),
    ) -> bool {
        // SAFETY: the live context of OnLoad; the server copies the name and flags.
        ok(unsafe {
            (self.api().create_command)(
                self.raw(),
                name.as_ptr(),
                entry,
                flags.as_ptr(),
                first,
                last,
                step,
            )
        })
    }

    /// The server's handle of a command this module created.
    pub fn command(self, name: &CStr) -> Option<Command> {
        // SAFETY: the live context of OnLoad.
        let raw = unsafe { (self.api().get_command)(self.raw(), name.as_ptr()) };
        (!raw.is_null()).then_some(Command {
            raw,
            api: self.api(),
        })
    }

    /// Adds the ACL category `name`: `None` on servers without module categories.
    pub fn add_acl_category(self, name: &CStr) -> Option<bool> {
        let add = self.api().add_acl_category?;
        // SAFETY: the live context of OnLoad; the server copies the name.
        Some(ok(unsafe { add(self.raw(), name.as_ptr()) }))
    }
}

/// A command the module created, during OnLoad.
pub struct Command {
    raw: *mut raw::RedisModuleCommand,
    api: &'static Api,
}

impl Command {
    /// Sets what `COMMAND INFO` and `COMMAND DOCS` show. The server copies everything.
    pub fn set_info(&self, info: &raw::RedisModuleCommandInfo) -> bool {
        // SAFETY: `raw` is a live command; `info` and what it points to outlive the call.
        ok(unsafe { (self.api.set_command_info)(self.raw, info) })
    }

    /// Sets the command's ACL categories: `None` on servers without module categories.
    pub fn set_acl_categories(&self, categories: &CStr) -> Option<bool> {
        let set = self.api.set_command_acl_categories?;
        // SAFETY: `raw` is a live command; the server copies the text.
        Some(ok(unsafe { set(self.raw, categories.as_ptr()) }))
    }
}

/// The INFO section being built, during the info callback.
pub struct Info {
    raw: *mut raw::RedisModuleInfoCtx,
    api: &'static Api,
}

impl Info {
    /// # Safety
    /// `raw` is the context the server passed to the running info callback.
    pub unsafe fn of_call(raw: *mut raw::RedisModuleInfoCtx) -> Option<Info> {
        (!raw.is_null()).then_some(())?;
        Some(Info {
            raw,
            api: api::get()?,
        })
    }

    /// Starts the module's own section (`# rl`).
    pub fn section(&self) {
        // SAFETY: `raw` is the live info context; an empty name is the module's section.
        unsafe { (self.api.info_add_section)(self.raw, c"".as_ptr()) };
    }

    pub fn field(&self, name: &CStr, value: u64) {
        // SAFETY: `raw` is the live info context; the server copies the name.
        unsafe { (self.api.info_add_field_ulonglong)(self.raw, name.as_ptr(), value) };
    }
}
