//! How a command declares itself to the server: name, flags, ACL categories, keys and the
//! documentation `COMMAND INFO` and `COMMAND DOCS` show. Each command file holds its own
//! `Command`; `registry` hands them to the server.

use std::ffi::{c_int, CStr};

use redis_module::raw;

use super::Handler;

/// The server's entry point for a command.
pub type Entry = unsafe extern "C" fn(
    *mut raw::RedisModuleCtx,
    *mut *mut raw::RedisModuleString,
    c_int,
) -> c_int;

pub struct Command {
    pub name: &'static CStr,
    pub flags: &'static CStr,
    /// Callable only by the server itself (its primary link, the AOF, MULTI/EXEC replay) on
    /// servers with module internal commands (Redis 8.0+); an ordinary command elsewhere.
    pub internal: bool,
    /// Built-in ACL categories matching the flags (the server derives none for module
    /// commands).
    pub acl_categories: &'static str,
    /// Whether it joins the module's own category, `@ratelimit`: the commands a client that
    /// may only rate-limit needs.
    pub rate_limiting: bool,
    pub summary: &'static str,
    pub complexity: &'static str,
    /// Negative: at least that many arguments, the name included.
    pub arity: c_int,
    pub keys: Keys,
    pub args: &'static [ArgDoc],
    pub entry: Entry,
    pub handler: Handler,
}

/// Where a command's keys are, with their REDISMODULE_CMD_KEY_* flags.
#[derive(Clone, Copy)]
pub enum Keys {
    /// One key, at position 1.
    First(u32),
    /// `numkeys` at position 1, then that many keys.
    Counted(u32),
}

/// Keys that are read, then written with what was read: the rate-limiting commands'.
pub const READ_UPDATE: u32 =
    raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_ACCESS | raw::REDISMODULE_CMD_KEY_UPDATE;
/// Keys that are only read.
pub const READ_ONLY: u32 = raw::REDISMODULE_CMD_KEY_RO | raw::REDISMODULE_CMD_KEY_ACCESS;
/// Keys that are overwritten whatever they held.
pub const OVERWRITE: u32 = raw::REDISMODULE_CMD_KEY_OW | raw::REDISMODULE_CMD_KEY_UPDATE;

#[derive(Clone, Copy)]
pub enum ArgType {
    Key,
    Integer,
    String,
    Block,
}

/// One argument as `COMMAND DOCS` shows it.
#[derive(Clone, Copy)]
pub struct ArgDoc {
    pub name: &'static str,
    pub kind: ArgType,
    /// The keyword before the value, for options and clauses.
    pub token: Option<&'static str>,
    pub optional: bool,
    pub multiple: bool,
    pub summary: Text,
    pub subargs: &'static [ArgDoc],
}

/// A text of the documentation: fixed, or made from the code when the server reads it.
#[derive(Clone, Copy)]
pub enum Text {
    Fixed(&'static str),
    /// The algorithms, as `rl_core::Algorithm` lists them.
    Algorithms,
}

impl Text {
    pub fn render(self) -> String {
        match self {
            Text::Fixed(text) => text.to_string(),
            Text::Algorithms => {
                let listed = rl_core::Algorithm::listed();
                format!("{listed}; the default is SLIDING, or rl.default-algorithm")
            }
        }
    }
}

pub const fn arg(name: &'static str, kind: ArgType, summary: &'static str) -> ArgDoc {
    ArgDoc {
        name,
        kind,
        token: None,
        optional: false,
        multiple: false,
        summary: Text::Fixed(summary),
        subargs: &[],
    }
}

pub const fn option(name: &'static str, kind: ArgType, summary: Text) -> ArgDoc {
    ArgDoc {
        token: Some(name),
        optional: true,
        summary,
        ..arg(name, kind, "")
    }
}

/// The arguments every limit shares.
pub const LIMIT: ArgDoc = arg("limit", ArgType::Integer, "units allowed per window");
pub const WINDOW: ArgDoc = arg(
    "window",
    ArgType::String,
    "duration: seconds, or with a unit ms, s, m, h, d",
);
pub const COST: ArgDoc = option(
    "COST",
    ArgType::Integer,
    Text::Fixed("units this request consumes (default 1)"),
);
pub const ALGO: ArgDoc = option("ALGO", ArgType::String, Text::Algorithms);
pub const BURST: ArgDoc = option(
    "BURST",
    ArgType::Integer,
    Text::Fixed("bucket capacity for TOKEN, LEAKY and GCRA (default: limit)"),
);

/// `key limit window [COST n] [ALGO a] [BURST n]`: RL.HIT's and RL.PEEK's arguments.
pub const ONE_LIMIT: &[ArgDoc] = &[
    arg("key", ArgType::Key, "the limited subject, e.g. user:42"),
    LIMIT,
    WINDOW,
    COST,
    ALGO,
    BURST,
];
