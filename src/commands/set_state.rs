//! `RL.SETSTATE key state`: the effect of a limiter command, as replicas and the AOF receive it.
//!
//! It carries the resulting state with absolute times, so replaying it reproduces the source's
//! bytes whatever the local clock says. It is replication plumbing: internal on servers that
//! have internal commands, and in `@admin @dangerous` elsewhere. Anything it accepts is a
//! state the limiter can work with: the bytes are checked with the one validity rule.

use std::ffi::c_int;

use redis_module::raw;
use rl_core::codec;

use super::declaration::{arg, ArgType, Command, Keys, OVERWRITE};
use super::{CommandError, Reply};
use crate::redis::context::{Arg, Ctx};
use crate::redis::key::{Access, Key};
use crate::redis::store;

pub const COMMAND: Command = Command {
    name: c"rl.setstate",
    flags: c"write deny-oom",
    internal: true,
    // Replication plumbing, like PSYNC and REPLCONF: not for clients that may only
    // rate-limit, who could otherwise write back a lapsed state.
    acl_categories: "write slow admin dangerous",
    rate_limiting: false,
    summary: "Stores a rate limiter state: the effect RL commands send to replicas and the AOF",
    complexity: "O(1)",
    arity: 3,
    keys: Keys::First(OVERWRITE),
    args: &[
        arg("key", ArgType::Key, "the limited subject"),
        arg("state", ArgType::String, "the encoded state"),
    ],
    entry,
    handler: run,
};

unsafe extern "C" fn entry(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
) -> c_int {
    // SAFETY: the server calls this command's function with its context and arguments.
    unsafe { super::guard(ctx, argv, argc, &COMMAND) }
}

fn run<'a>(ctx: Ctx<'a>, args: &'a [Arg<'a>]) -> Result<Reply, CommandError> {
    let [_, key, state] = args else {
        return Err(CommandError::Arity);
    };
    let state = codec::decode(state.bytes()).map_err(CommandError::InvalidState)?;
    let key = Key::open(ctx, (*key).into(), Access::Write);
    let stored = store::read(&key)?;
    store::apply(&key, &stored, state, ctx.is_replayed())?;
    Ok(Reply::Ok)
}
