//! The command table: names, flags, key positions and the documentation `COMMAND INFO` and
//! `COMMAND DOCS` show, registered through the raw module API so that the same module loads on
//! Redis 7.0 and later and on Valkey. Newer facilities (module ACL categories) are used when
//! the server has them.

use std::ffi::{c_char, c_int, CStr, CString};

use redis_module::raw;

use super::{guarded, hit, set_state};
use crate::api::{call, Ctx, RString};

/// The ACL category every rl command joins, where the server supports module categories.
const ACL_CATEGORY: &CStr = c"ratelimit";
const SINCE: &CStr = c"0.1.0";

/// The layout of the command info structures below, as the server's header defines it (it is a
/// `static const` there, not an exported symbol).
static INFO_VERSION: raw::RedisModuleCommandInfoVersion = raw::RedisModuleCommandInfoVersion {
    version: 1,
    sizeof_historyentry: std::mem::size_of::<raw::RedisModuleCommandHistoryEntry>(),
    sizeof_keyspec: std::mem::size_of::<raw::RedisModuleCommandKeySpec>(),
    sizeof_arg: std::mem::size_of::<raw::RedisModuleCommandArg>(),
};

type CommandFn = unsafe extern "C" fn(Ctx, *mut RString, c_int) -> c_int;

struct Command {
    name: &'static CStr,
    func: CommandFn,
    flags: &'static CStr,
    /// Built-in ACL categories matching the flags (the server derives none for module
    /// commands); the module's own category is added to them.
    acl_categories: &'static str,
    summary: &'static CStr,
    complexity: &'static CStr,
    /// Negative: at least that many arguments, the name included.
    arity: c_int,
    /// Flags of the single key, at position 1 (REDISMODULE_CMD_KEY_*).
    key_flags: u32,
    args: &'static [Arg],
}

#[derive(Clone, Copy)]
enum ArgType {
    Key,
    Integer,
    String,
}

struct Arg {
    name: &'static CStr,
    kind: ArgType,
    /// The keyword before the value, for options.
    token: Option<&'static CStr>,
    optional: bool,
    summary: &'static CStr,
}

const fn arg(name: &'static CStr, kind: ArgType, summary: &'static CStr) -> Arg {
    Arg {
        name,
        kind,
        token: None,
        optional: false,
        summary,
    }
}

const fn option(name: &'static CStr, kind: ArgType, summary: &'static CStr) -> Arg {
    Arg {
        name,
        kind,
        token: Some(name),
        optional: true,
        summary,
    }
}

unsafe extern "C" fn rl_hit(ctx: Ctx, argv: *mut RString, argc: c_int) -> c_int {
    guarded(ctx, argv, argc, hit::run)
}

unsafe extern "C" fn rl_setstate(ctx: Ctx, argv: *mut RString, argc: c_int) -> c_int {
    guarded(ctx, argv, argc, set_state::run)
}

const COMMANDS: &[Command] = &[
    Command {
        name: c"rl.hit",
        func: rl_hit,
        flags: c"write deny-oom fast",
        acl_categories: "write fast",
        summary: c"Counts a request against a rate limit and answers whether it is allowed, \
                   with the remaining capacity and the time to wait",
        complexity: c"O(1)",
        arity: -4,
        key_flags: raw::REDISMODULE_CMD_KEY_RW
            | raw::REDISMODULE_CMD_KEY_ACCESS
            | raw::REDISMODULE_CMD_KEY_UPDATE,
        args: &[
            arg(c"key", ArgType::Key, c"the limited subject, e.g. user:42"),
            arg(c"limit", ArgType::Integer, c"units allowed per window"),
            arg(
                c"window",
                ArgType::String,
                c"duration: seconds, or with a unit ms, s, m, h, d",
            ),
            option(
                c"COST",
                ArgType::Integer,
                c"units this request consumes (default 1)",
            ),
        ],
    },
    Command {
        name: c"rl.setstate",
        func: rl_setstate,
        flags: c"write deny-oom",
        acl_categories: "write slow",
        summary:
            c"Stores a rate limiter state: the effect RL commands send to replicas and the AOF",
        complexity: c"O(1)",
        arity: 3,
        key_flags: raw::REDISMODULE_CMD_KEY_OW | raw::REDISMODULE_CMD_KEY_UPDATE,
        args: &[
            arg(c"key", ArgType::Key, c"the limited subject"),
            arg(c"state", ArgType::String, c"the encoded state"),
        ],
    },
];

/// Registers every command. Called from the module's OnLoad.
pub fn register(ctx: Ctx) -> Result<(), String> {
    let category = add_acl_category(ctx);
    for command in COMMANDS {
        let name = command.name.to_string_lossy();
        let created = call!(RedisModule_CreateCommand(
            ctx,
            command.name.as_ptr(),
            Some(command.func),
            command.flags.as_ptr(),
            1,
            1,
            1,
        ) else 1);
        if created != raw::REDISMODULE_OK as c_int {
            return Err(format!("could not create command {name}"));
        }
        let handle =
            call!(RedisModule_GetCommand(ctx, command.name.as_ptr()) else std::ptr::null_mut());
        if handle.is_null() {
            return Err(format!("could not find command {name}"));
        }
        if !set_info(handle, command) {
            return Err(format!("could not set the command info of {name}"));
        }
        if let Some(category) = category {
            let categories = format!("{} {}", command.acl_categories, category.to_string_lossy());
            let categories = CString::new(categories).map_err(|e| e.to_string())?;
            call!(RedisModule_SetCommandACLCategories(handle, categories.as_ptr()) else 0);
        }
    }
    Ok(())
}

/// The module's ACL category, when the server supports module categories (Redis 7.4+).
fn add_acl_category(ctx: Ctx) -> Option<&'static CStr> {
    let added = call!(RedisModule_AddACLCategory(ctx, ACL_CATEGORY.as_ptr()) else return None);
    (added == raw::REDISMODULE_OK as c_int).then_some(ACL_CATEGORY)
}

fn set_info(handle: *mut raw::RedisModuleCommand, command: &Command) -> bool {
    // The server copies everything it is given, so these may live on this stack frame.
    let mut key_specs = [key_spec(command.key_flags), unsafe { std::mem::zeroed() }];
    let mut args: Vec<raw::RedisModuleCommandArg> = command.args.iter().map(arg_doc).collect();
    args.push(unsafe { std::mem::zeroed() });
    let mut info = raw::RedisModuleCommandInfo {
        version: &INFO_VERSION,
        summary: command.summary.as_ptr(),
        complexity: command.complexity.as_ptr(),
        since: SINCE.as_ptr(),
        history: std::ptr::null_mut(),
        tips: std::ptr::null(),
        arity: command.arity,
        key_specs: key_specs.as_mut_ptr(),
        args: args.as_mut_ptr(),
    };
    call!(RedisModule_SetCommandInfo(handle, &mut info) else 1) == raw::REDISMODULE_OK as c_int
}

/// One key, at argument position 1.
fn key_spec(flags: u32) -> raw::RedisModuleCommandKeySpec {
    let mut spec: raw::RedisModuleCommandKeySpec = unsafe { std::mem::zeroed() };
    spec.flags = u64::from(flags);
    spec.begin_search_type = raw::RedisModuleKeySpecBeginSearchType_REDISMODULE_KSPEC_BS_INDEX;
    spec.bs.index.pos = 1;
    spec.find_keys_type = raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_RANGE;
    spec.fk.range.lastkey = 0;
    spec.fk.range.keystep = 1;
    spec.fk.range.limit = 0;
    spec
}

fn arg_doc(a: &Arg) -> raw::RedisModuleCommandArg {
    let mut doc: raw::RedisModuleCommandArg = unsafe { std::mem::zeroed() };
    doc.name = a.name.as_ptr();
    doc.type_ = match a.kind {
        ArgType::Key => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_KEY,
        ArgType::Integer => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_INTEGER,
        ArgType::String => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_STRING,
    };
    doc.key_spec_index = match a.kind {
        ArgType::Key => 0,
        _ => -1,
    };
    doc.token = a
        .token
        .map_or(std::ptr::null(), |t| t.as_ptr().cast::<c_char>());
    doc.summary = a.summary.as_ptr();
    doc.flags = if a.optional {
        raw::REDISMODULE_CMD_ARG_OPTIONAL as c_int
    } else {
        raw::REDISMODULE_CMD_ARG_NONE as c_int
    };
    doc
}
