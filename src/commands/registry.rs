//! The command table: names, flags, key positions and the documentation `COMMAND INFO` and
//! `COMMAND DOCS` show, registered through the raw module API so that the same module loads on
//! Redis 7.0 and later and on Valkey. Newer facilities (module ACL categories) are used when
//! the server has them.

use std::ffi::{c_char, c_int, CStr, CString};

use redis_module::raw;

use super::{guarded, hit, mhit, peek, set_state, throttle};
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
    /// Callable only by the server itself (its primary link, the AOF, MULTI/EXEC replay) on
    /// servers with module internal commands (Redis 8.0+); an ordinary command elsewhere.
    internal: bool,
    /// Built-in ACL categories matching the flags (the server derives none for module
    /// commands).
    acl_categories: &'static str,
    /// Whether it joins the module's own category, `@ratelimit`: the commands a client that
    /// may only rate-limit needs.
    rate_limiting: bool,
    summary: &'static CStr,
    complexity: &'static CStr,
    /// Negative: at least that many arguments, the name included.
    arity: c_int,
    keys: Keys,
    args: &'static [Arg],
}

/// Where the keys are, with their REDISMODULE_CMD_KEY_* flags.
#[derive(Clone, Copy)]
enum Keys {
    /// One key, at position 1.
    First(u32),
    /// `numkeys` at position 1, then that many keys.
    Counted(u32),
}

#[derive(Clone, Copy)]
enum ArgType {
    Key,
    Integer,
    String,
    Block,
}

#[derive(Clone, Copy)]
struct Arg {
    name: &'static CStr,
    kind: ArgType,
    /// The keyword before the value, for options and clauses.
    token: Option<&'static CStr>,
    optional: bool,
    multiple: bool,
    summary: &'static CStr,
    subargs: &'static [Arg],
}

const fn arg(name: &'static CStr, kind: ArgType, summary: &'static CStr) -> Arg {
    Arg {
        name,
        kind,
        token: None,
        optional: false,
        multiple: false,
        summary,
        subargs: &[],
    }
}

const fn option(name: &'static CStr, kind: ArgType, summary: &'static CStr) -> Arg {
    Arg {
        token: Some(name),
        optional: true,
        ..arg(name, kind, summary)
    }
}

const LIMIT_ARGS: &[Arg] = &[
    arg(c"limit", ArgType::Integer, c"units allowed per window"),
    arg(
        c"window",
        ArgType::String,
        c"duration: seconds, or with a unit ms, s, m, h, d",
    ),
];
const COST: Arg = option(
    c"COST",
    ArgType::Integer,
    c"units this request consumes (default 1)",
);
const ALGO: Arg = option(
    c"ALGO",
    ArgType::String,
    c"SLIDING (default), FIXED, TOKEN, LEAKY or GCRA",
);
const BURST: Arg = option(
    c"BURST",
    ArgType::Integer,
    c"bucket capacity for TOKEN, LEAKY and GCRA (default: limit)",
);
const HIT_ARGS: &[Arg] = &[
    arg(c"key", ArgType::Key, c"the limited subject, e.g. user:42"),
    LIMIT_ARGS[0],
    LIMIT_ARGS[1],
    COST,
    ALGO,
    BURST,
];

macro_rules! handler {
    ($name:ident, $run:path) => {
        unsafe extern "C" fn $name(ctx: Ctx, argv: *mut RString, argc: c_int) -> c_int {
            guarded(ctx, argv, argc, $run)
        }
    };
}
handler!(rl_hit, hit::run);
handler!(rl_peek, peek::run);
handler!(rl_mhit, mhit::run);
handler!(rl_setstate, set_state::run);
handler!(cl_throttle, throttle::run);

const RW_UPDATE: u32 =
    raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_ACCESS | raw::REDISMODULE_CMD_KEY_UPDATE;

const COMMANDS: &[Command] = &[
    Command {
        name: c"rl.hit",
        func: rl_hit,
        flags: c"write deny-oom fast",
        internal: false,
        acl_categories: "write fast",
        rate_limiting: true,
        summary: c"Counts a request against a rate limit and answers whether it is allowed, \
                   with the remaining capacity and the time to wait",
        complexity: c"O(1)",
        arity: -4,
        keys: Keys::First(RW_UPDATE),
        args: HIT_ARGS,
    },
    Command {
        name: c"rl.peek",
        func: rl_peek,
        flags: c"readonly fast",
        internal: false,
        acl_categories: "read fast",
        rate_limiting: true,
        summary: c"Answers what RL.HIT would, without consuming or writing anything",
        complexity: c"O(1)",
        arity: -4,
        keys: Keys::First(raw::REDISMODULE_CMD_KEY_RO | raw::REDISMODULE_CMD_KEY_ACCESS),
        args: HIT_ARGS,
    },
    Command {
        name: c"rl.mhit",
        func: rl_mhit,
        flags: c"write deny-oom getkeys-api",
        internal: false,
        acl_categories: "write slow",
        rate_limiting: true,
        summary: c"Counts a request against several rate limits at once: all admit and consume \
                   it, or none does",
        complexity: c"O(N) where N is the number of keys",
        arity: -6,
        keys: Keys::Counted(mhit::KEY_FLAGS),
        args: &[
            arg(
                c"numkeys",
                ArgType::Integer,
                c"how many keys (and LIMIT clauses) follow",
            ),
            Arg {
                multiple: true,
                ..arg(c"key", ArgType::Key, c"a limited subject")
            },
            Arg {
                token: Some(c"LIMIT"),
                multiple: true,
                subargs: &[LIMIT_ARGS[0], LIMIT_ARGS[1], ALGO, BURST],
                ..arg(
                    c"limit-clause",
                    ArgType::Block,
                    c"the limit of the key in the same position",
                )
            },
            COST,
        ],
    },
    Command {
        name: c"rl.setstate",
        func: rl_setstate,
        flags: c"write deny-oom",
        internal: true,
        // Replication plumbing, like PSYNC and REPLCONF: not for clients that may only
        // rate-limit, who could otherwise write back a lapsed state.
        acl_categories: "write slow admin dangerous",
        rate_limiting: false,
        summary:
            c"Stores a rate limiter state: the effect RL commands send to replicas and the AOF",
        complexity: c"O(1)",
        arity: 3,
        keys: Keys::First(raw::REDISMODULE_CMD_KEY_OW | raw::REDISMODULE_CMD_KEY_UPDATE),
        args: &[
            arg(c"key", ArgType::Key, c"the limited subject"),
            arg(c"state", ArgType::String, c"the encoded state"),
        ],
    },
];

/// redis-cell's command, registered when the module is loaded with `cell-compat yes`.
const CELL_COMMAND: Command = Command {
    name: c"cl.throttle",
    func: cl_throttle,
    flags: c"write deny-oom fast",
    internal: false,
    acl_categories: "write fast",
    rate_limiting: true,
    summary: c"redis-cell compatible GCRA rate limiting",
    complexity: c"O(1)",
    arity: -5,
    keys: Keys::First(RW_UPDATE),
    args: &[
        arg(c"key", ArgType::Key, c"the limited subject"),
        arg(c"max_burst", ArgType::Integer, c"the capacity minus one"),
        arg(c"count", ArgType::Integer, c"units per period"),
        arg(c"period", ArgType::Integer, c"seconds"),
        Arg {
            optional: true,
            ..arg(
                c"quantity",
                ArgType::Integer,
                c"units this request consumes (default 1)",
            )
        },
    ],
};

/// Registers every command. Called from the module's OnLoad.
pub fn register(ctx: Ctx, cell_compat: bool) -> Result<(), String> {
    let category = add_acl_category(ctx);
    let cell = cell_compat.then_some(&CELL_COMMAND);
    for command in COMMANDS.iter().chain(cell) {
        register_one(ctx, command, category)?;
    }
    Ok(())
}

fn register_one(ctx: Ctx, command: &Command, category: Option<&CStr>) -> Result<(), String> {
    let name = command.name.to_string_lossy();
    // The legacy (first, last, step) key triple; commands with counted keys declare them
    // through their key specification only.
    let (first, last, step) = match command.keys {
        Keys::First(_) => (1, 1, 1),
        Keys::Counted(_) => (0, 0, 0),
    };
    let create = |flags: &CStr| {
        call!(RedisModule_CreateCommand(
            ctx,
            command.name.as_ptr(),
            Some(command.func),
            flags.as_ptr(),
            first,
            last,
            step,
        ) else 1)
            == raw::REDISMODULE_OK as c_int
    };
    // Servers without internal commands refuse the flag, registering nothing.
    let internal_flags = CString::new(format!("{} internal", command.flags.to_string_lossy()))
        .map_err(|e| e.to_string())?;
    let created = (command.internal && create(&internal_flags)) || create(command.flags);
    if !created {
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
        let mut categories = command.acl_categories.to_string();
        if command.rate_limiting {
            categories = format!("{categories} {}", category.to_string_lossy());
        }
        let categories = CString::new(categories).map_err(|e| e.to_string())?;
        let set = call!(RedisModule_SetCommandACLCategories(handle, categories.as_ptr()) else 1);
        if set != raw::REDISMODULE_OK as c_int {
            return Err(format!("could not set the ACL categories of {name}"));
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
    let mut key_specs = [key_spec(command.keys), unsafe { std::mem::zeroed() }];
    let mut docs = ArgDocs::default();
    let args = docs.list(command.args);
    let mut info = raw::RedisModuleCommandInfo {
        version: &INFO_VERSION,
        summary: command.summary.as_ptr(),
        complexity: command.complexity.as_ptr(),
        since: SINCE.as_ptr(),
        history: std::ptr::null_mut(),
        tips: std::ptr::null(),
        arity: command.arity,
        key_specs: key_specs.as_mut_ptr(),
        args,
    };
    call!(RedisModule_SetCommandInfo(handle, &mut info) else 1) == raw::REDISMODULE_OK as c_int
}

fn key_spec(keys: Keys) -> raw::RedisModuleCommandKeySpec {
    let mut spec: raw::RedisModuleCommandKeySpec = unsafe { std::mem::zeroed() };
    spec.begin_search_type = raw::RedisModuleKeySpecBeginSearchType_REDISMODULE_KSPEC_BS_INDEX;
    spec.bs.index.pos = 1;
    match keys {
        Keys::First(flags) => {
            spec.flags = u64::from(flags);
            spec.find_keys_type = raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_RANGE;
            spec.fk.range.lastkey = 0;
            spec.fk.range.keystep = 1;
            spec.fk.range.limit = 0;
        }
        Keys::Counted(flags) => {
            spec.flags = u64::from(flags);
            spec.find_keys_type = raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_KEYNUM;
            spec.fk.keynum.keynumidx = 0;
            spec.fk.keynum.firstkey = 1;
            spec.fk.keynum.keystep = 1;
        }
    }
    spec
}

/// Argument documentation in the server's layout: arrays ending with a zeroed entry, kept
/// alive here until the server has copied them.
#[derive(Default)]
struct ArgDocs {
    lists: Vec<Vec<raw::RedisModuleCommandArg>>,
}

impl ArgDocs {
    fn list(&mut self, args: &[Arg]) -> *mut raw::RedisModuleCommandArg {
        let mut list: Vec<raw::RedisModuleCommandArg> = Vec::with_capacity(args.len() + 1);
        for a in args {
            let subargs = if a.subargs.is_empty() {
                std::ptr::null_mut()
            } else {
                self.list(a.subargs)
            };
            list.push(arg_doc(a, subargs));
        }
        list.push(unsafe { std::mem::zeroed() });
        // Moving the Vec into `lists` does not move its heap buffer.
        let ptr = list.as_mut_ptr();
        self.lists.push(list);
        ptr
    }
}

fn arg_doc(a: &Arg, subargs: *mut raw::RedisModuleCommandArg) -> raw::RedisModuleCommandArg {
    let mut doc: raw::RedisModuleCommandArg = unsafe { std::mem::zeroed() };
    doc.name = a.name.as_ptr();
    doc.type_ = match a.kind {
        ArgType::Key => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_KEY,
        ArgType::Integer => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_INTEGER,
        ArgType::String => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_STRING,
        ArgType::Block => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_BLOCK,
    };
    doc.key_spec_index = match a.kind {
        ArgType::Key => 0,
        _ => -1,
    };
    doc.token = a
        .token
        .map_or(std::ptr::null(), |t| t.as_ptr().cast::<c_char>());
    doc.summary = a.summary.as_ptr();
    let mut flags = raw::REDISMODULE_CMD_ARG_NONE;
    if a.optional {
        flags |= raw::REDISMODULE_CMD_ARG_OPTIONAL;
    }
    if a.multiple {
        flags |= raw::REDISMODULE_CMD_ARG_MULTIPLE;
    }
    doc.flags = flags as c_int;
    doc.subargs = subargs;
    doc
}
