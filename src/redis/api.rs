//! The server's module API, as this module uses it.
//!
//! The server fills a table of function pointers when it loads a module; functions that an
//! older server lacks stay empty. `Api::load` copies every function the module needs into
//! `Api` at load time and refuses to load, naming the first missing one, so that no call
//! afterwards has to wonder. Functions that only newer servers have, and that the module can
//! do without, are kept as `Option`s and documented where they are used.
//!
//! This file, `context.rs` and `key.rs` are the only places that call the server or touch its
//! raw pointers; everything above them uses their safe types.

use std::ffi::{c_char, c_int, c_long, c_longlong, c_uint, c_ulonglong, c_void};
use std::sync::OnceLock;

use redis_module::raw;

use raw::{
    RedisModuleCmdFunc, RedisModuleCommand, RedisModuleCommandInfo, RedisModuleConfigApplyFunc,
    RedisModuleConfigGetBoolFunc, RedisModuleConfigGetEnumFunc, RedisModuleConfigGetNumericFunc,
    RedisModuleConfigSetBoolFunc, RedisModuleConfigSetEnumFunc, RedisModuleConfigSetNumericFunc,
    RedisModuleCtx, RedisModuleDigest, RedisModuleEvent, RedisModuleEventCallback, RedisModuleIO,
    RedisModuleInfoCtx, RedisModuleInfoFunc, RedisModuleKey, RedisModuleNotificationFunc,
    RedisModuleServerInfoData, RedisModuleString, RedisModuleType,
};

type Ctx = *mut RedisModuleCtx;
type Str = *mut RedisModuleString;
type Key = *mut RedisModuleKey;

macro_rules! api_table {
    ($($field:ident = $raw:ident: fn($($arg:ty),*) $(-> $ret:ty)?;)*) => {
        /// The module API functions the module needs, each present.
        pub struct Api {
            $(pub $field: unsafe extern "C" fn($($arg),*) $(-> $ret)?,)*
            /// Variadic: `RedisModule_Replicate(ctx, command, format, args...)`.
            pub replicate: unsafe extern "C" fn(Ctx, *const c_char, *const c_char, ...) -> c_int,
            /// Variadic: `RedisModule_EmitAOF(io, command, format, args...)`.
            pub emit_aof: unsafe extern "C" fn(*mut RedisModuleIO, *const c_char, *const c_char, ...),
            /// Present on Redis 7.2+ and Valkey: the command-time snapshot of the clock.
            pub cached_microseconds: Option<unsafe extern "C" fn() -> c_longlong>,
            /// Present where keys can be declared with access flags (Redis 7.0+).
            pub key_at_pos_with_flags: Option<unsafe extern "C" fn(Ctx, c_int, c_int)>,
            /// Present on servers with module ACL categories (Redis 7.4+, Valkey 8+).
            pub add_acl_category: Option<unsafe extern "C" fn(Ctx, *const c_char) -> c_int>,
            pub set_command_acl_categories:
                Option<unsafe extern "C" fn(*mut RedisModuleCommand, *const c_char) -> c_int>,
            /// Present on Redis 7.2+ and Valkey: which module options the server knows.
            pub get_module_options_all: Option<unsafe extern "C" fn() -> c_int>,
        }

        impl Api {
            /// Copies the server's table, or names the first function it lacks.
            fn from_server() -> Result<Api, &'static str> {
                // SAFETY: the server wrote these statics before calling the module's OnLoad,
                // on this thread, and nothing writes them afterwards; they are read by value.
                unsafe {
                    Ok(Api {
                        $($field: raw::$raw.ok_or(stringify!($raw))?,)*
                        replicate: raw::RedisModule_Replicate.ok_or("RedisModule_Replicate")?,
                        emit_aof: raw::RedisModule_EmitAOF.ok_or("RedisModule_EmitAOF")?,
                        cached_microseconds: raw::RedisModule_CachedMicroseconds,
                        key_at_pos_with_flags: raw::RedisModule_KeyAtPosWithFlags,
                        add_acl_category: raw::RedisModule_AddACLCategory,
                        set_command_acl_categories: raw::RedisModule_SetCommandACLCategories,
                        get_module_options_all: raw::RedisModule_GetModuleOptionsAll,
                    })
                }
            }
        }
    };
}

api_table! {
    string_ptr_len = RedisModule_StringPtrLen: fn(*const RedisModuleString, *mut usize) -> *const c_char;
    create_string_from_string = RedisModule_CreateStringFromString: fn(Ctx, *const RedisModuleString) -> Str;
    free_string = RedisModule_FreeString: fn(Ctx, Str);
    open_key = RedisModule_OpenKey: fn(Ctx, Str, c_int) -> Key;
    close_key = RedisModule_CloseKey: fn(Key);
    key_type = RedisModule_KeyType: fn(Key) -> c_int;
    module_type_get_type = RedisModule_ModuleTypeGetType: fn(Key) -> *mut RedisModuleType;
    module_type_get_value = RedisModule_ModuleTypeGetValue: fn(Key) -> *mut c_void;
    module_type_set_value = RedisModule_ModuleTypeSetValue: fn(Key, *mut RedisModuleType, *mut c_void) -> c_int;
    module_type_replace_value = RedisModule_ModuleTypeReplaceValue: fn(Key, *mut RedisModuleType, *mut c_void, *mut *mut c_void) -> c_int;
    delete_key = RedisModule_DeleteKey: fn(Key) -> c_int;
    set_abs_expire = RedisModule_SetAbsExpire: fn(Key, c_longlong) -> c_int;
    get_abs_expire = RedisModule_GetAbsExpire: fn(Key) -> c_longlong;
    signal_modified_key = RedisModule_SignalModifiedKey: fn(Ctx, Str) -> c_int;
    notify_keyspace_event = RedisModule_NotifyKeyspaceEvent: fn(Ctx, c_int, *const c_char, Str) -> c_int;
    get_notify_keyspace_events = RedisModule_GetNotifyKeyspaceEvents: fn() -> c_int;
    subscribe_to_keyspace_events = RedisModule_SubscribeToKeyspaceEvents: fn(Ctx, c_int, RedisModuleNotificationFunc) -> c_int;
    subscribe_to_server_event = RedisModule_SubscribeToServerEvent: fn(Ctx, RedisModuleEvent, RedisModuleEventCallback) -> c_int;
    replicate_verbatim = RedisModule_ReplicateVerbatim: fn(Ctx) -> c_int;
    reply_with_array = RedisModule_ReplyWithArray: fn(Ctx, c_long) -> c_int;
    reply_with_long_long = RedisModule_ReplyWithLongLong: fn(Ctx, c_longlong) -> c_int;
    reply_with_error = RedisModule_ReplyWithError: fn(Ctx, *const c_char) -> c_int;
    reply_with_simple_string = RedisModule_ReplyWithSimpleString: fn(Ctx, *const c_char) -> c_int;
    reply_with_string_buffer = RedisModule_ReplyWithStringBuffer: fn(Ctx, *const c_char, usize) -> c_int;
    reply_with_null = RedisModule_ReplyWithNull: fn(Ctx) -> c_int;
    wrong_arity = RedisModule_WrongArity: fn(Ctx) -> c_int;
    get_context_flags = RedisModule_GetContextFlags: fn(Ctx) -> c_int;
    is_keys_position_request = RedisModule_IsKeysPositionRequest: fn(Ctx) -> c_int;
    key_at_pos = RedisModule_KeyAtPos: fn(Ctx, c_int);
    create_command = RedisModule_CreateCommand: fn(Ctx, *const c_char, RedisModuleCmdFunc, *const c_char, c_int, c_int, c_int) -> c_int;
    get_command = RedisModule_GetCommand: fn(Ctx, *const c_char) -> *mut RedisModuleCommand;
    set_command_info = RedisModule_SetCommandInfo: fn(*mut RedisModuleCommand, *const RedisModuleCommandInfo) -> c_int;
    set_module_options = RedisModule_SetModuleOptions: fn(Ctx, c_int);
    get_server_info = RedisModule_GetServerInfo: fn(Ctx, *const c_char) -> *mut RedisModuleServerInfoData;
    server_info_get_field_c = RedisModule_ServerInfoGetFieldC: fn(*mut RedisModuleServerInfoData, *const c_char) -> *const c_char;
    server_info_get_field_signed = RedisModule_ServerInfoGetFieldSigned: fn(*mut RedisModuleServerInfoData, *const c_char, *mut c_int) -> c_longlong;
    free_server_info = RedisModule_FreeServerInfo: fn(Ctx, *mut RedisModuleServerInfoData);
    register_info_func = RedisModule_RegisterInfoFunc: fn(Ctx, RedisModuleInfoFunc) -> c_int;
    info_add_section = RedisModule_InfoAddSection: fn(*mut RedisModuleInfoCtx, *const c_char) -> c_int;
    info_add_field_ulonglong = RedisModule_InfoAddFieldULongLong: fn(*mut RedisModuleInfoCtx, *const c_char, c_ulonglong) -> c_int;
    register_enum_config = RedisModule_RegisterEnumConfig: fn(Ctx, *const c_char, c_int, c_uint, *mut *const c_char, *const c_int, c_int, RedisModuleConfigGetEnumFunc, RedisModuleConfigSetEnumFunc, RedisModuleConfigApplyFunc, *mut c_void) -> c_int;
    register_bool_config = RedisModule_RegisterBoolConfig: fn(Ctx, *const c_char, c_int, c_uint, RedisModuleConfigGetBoolFunc, RedisModuleConfigSetBoolFunc, RedisModuleConfigApplyFunc, *mut c_void) -> c_int;
    register_numeric_config = RedisModule_RegisterNumericConfig: fn(Ctx, *const c_char, c_longlong, c_uint, c_longlong, c_longlong, RedisModuleConfigGetNumericFunc, RedisModuleConfigSetNumericFunc, RedisModuleConfigApplyFunc, *mut c_void) -> c_int;
    load_configs = RedisModule_LoadConfigs: fn(Ctx) -> c_int;
    save_string_buffer = RedisModule_SaveStringBuffer: fn(*mut RedisModuleIO, *const c_char, usize);
    load_string_buffer = RedisModule_LoadStringBuffer: fn(*mut RedisModuleIO, *mut usize) -> *mut c_char;
    free = RedisModule_Free: fn(*mut c_void);
    digest_add_string_buffer = RedisModule_DigestAddStringBuffer: fn(*mut RedisModuleDigest, *const c_char, usize);
    digest_end_sequence = RedisModule_DigestEndSequence: fn(*mut RedisModuleDigest);
}

static API: OnceLock<Api> = OnceLock::new();

/// Takes the server's table at load; `Err` names the first function the server lacks.
pub fn load() -> Result<(), &'static str> {
    let api = Api::from_server()?;
    // A second load of the same module in one process is refused by the server (a module
    // with a data type cannot be unloaded); if it ever happened, the table would be the same.
    let _ = API.set(api);
    Ok(())
}

/// The table, once `load` succeeded: always, for anything the server calls after OnLoad.
pub fn get() -> Option<&'static Api> {
    API.get()
}
