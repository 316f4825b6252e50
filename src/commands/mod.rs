//! One file per command, holding its handler and its declaration (name, flags, keys and the
//! documentation `COMMAND DOCS` shows) side by side. This file holds what they share: the
//! answers a handler returns, and `guard`, the one place that runs a handler and replies.
//!
//! A handler is a plain function from the call's context and arguments to
//! `Result<Reply, CommandError>`; it never replies itself, so every path replies exactly once.

mod acquire;
mod declaration;
mod hit;
mod mhit;
mod peek;
mod registry;
mod release;
mod renew;
mod reply;
mod set_leases;
mod set_state;
mod throttle;

use std::ffi::{c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use redis_module::raw;
use rl_core::leases::{self as lease_core, codec as lease_codec};
use rl_core::parse::{self, ArgError};
use rl_core::{codec::DecodeError, decide, Decision, Params};

use crate::redis::context::{Arg, Ctx, Name};
use crate::redis::key::{Access, Key, OtherType};
use crate::redis::leases;
use crate::redis::store::{self, Unstorable};
use crate::redis::{config, notify};

pub use declaration::Command;
pub use registry::register;
pub use reply::Reply;

/// Why a command answers with an error.
#[derive(Debug)]
pub enum CommandError {
    /// Too few or too many arguments: the server's own message.
    Arity,
    Args(ArgError),
    /// A key holds a value of another type.
    WrongType,
    /// RL.SETSTATE's state does not decode.
    InvalidState(DecodeError),
    /// RL.SETSTATE's change to a log does not fit the log the key holds.
    NotThisLog,
    /// RL.SETLEASES's state does not decode.
    InvalidLeases(lease_codec::DecodeError),
    /// The limiter produced a state the module may not store: a bug, refused before anything
    /// is written.
    Unstorable(Unstorable),
    /// The same, for leases.
    UnstorableLeases(lease_core::Invalid),
    /// The handler panicked: a bug, contained.
    Panicked,
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandError::Arity => f.write_str("ERR wrong number of arguments"),
            CommandError::Args(e) => write!(f, "ERR {e}"),
            CommandError::WrongType => {
                f.write_str("WRONGTYPE Operation against a key holding the wrong kind of value")
            }
            CommandError::InvalidState(e) => write!(
                f,
                "ERR state is not a valid rate limiter state: {e} (RL.SETSTATE replays what RL \
                 commands write to replicas and the AOF)"
            ),
            CommandError::InvalidLeases(e) => write!(
                f,
                "ERR state is not a valid leases state: {e} (RL.SETLEASES replays what \
                 RL.ACQUIRE, RL.RELEASE and RL.RENEW write to replicas and the AOF)"
            ),
            CommandError::UnstorableLeases(why) => write!(
                f,
                "ERR internal error in the rl module: refused to store leases ({why})"
            ),
            CommandError::Unstorable(Unstorable(why)) => write!(
                f,
                "ERR internal error in the rl module: refused to store a state ({why})"
            ),
            CommandError::Panicked => f.write_str("ERR internal error in the rl module"),
            CommandError::NotThisLog => f.write_str(
                "ERR the change to a log does not fit the log this key holds (RL.SETSTATE \
                 replays what RL commands write to replicas and the AOF)",
            ),
        }
    }
}

impl From<ArgError> for CommandError {
    fn from(e: ArgError) -> CommandError {
        CommandError::Args(e)
    }
}

impl From<OtherType> for CommandError {
    fn from(_: OtherType) -> CommandError {
        CommandError::WrongType
    }
}

impl From<leases::Unstorable> for CommandError {
    fn from(e: leases::Unstorable) -> CommandError {
        CommandError::UnstorableLeases(e.0)
    }
}

impl From<Unstorable> for CommandError {
    fn from(e: Unstorable) -> CommandError {
        CommandError::Unstorable(e)
    }
}

/// Defines `entry`, the function the server calls for the command `$command`: it runs the
/// command's handler through `guard`.
macro_rules! entry {
    ($command:ident) => {
        unsafe extern "C" fn entry(
            ctx: *mut redis_module::raw::RedisModuleCtx,
            argv: *mut *mut redis_module::raw::RedisModuleString,
            argc: std::ffi::c_int,
        ) -> std::ffi::c_int {
            // SAFETY: the server calls a command's function with its context and arguments.
            unsafe { super::guard(ctx, argv, argc, &$command) }
        }
    };
}
use entry;

/// The body of a command.
pub type Handler = for<'a> fn(Ctx<'a>, &'a [Arg<'a>]) -> Result<Reply, CommandError>;

/// Runs `command`'s handler for the server and replies, once. A panic (a bug, never an input)
/// is caught and answered with an error instead of aborting redis-server.
///
/// # Safety
/// Called with the context and arguments the server passed to the command's function.
unsafe fn guard(
    ctx: *mut raw::RedisModuleCtx,
    argv: *mut *mut raw::RedisModuleString,
    argc: c_int,
    command: &Command,
) -> c_int {
    // SAFETY: as the caller promises; they live for this call.
    let Some((ctx, args)) = (unsafe { Ctx::of_command(ctx, argv, argc) }) else {
        return raw::REDISMODULE_ERR as c_int;
    };
    match contained(|| (command.handler)(ctx, args)) {
        Ok(reply) => reply.send(ctx),
        Err(CommandError::Arity) => ctx.reply_wrong_arity(),
        Err(e) => ctx.reply_error(&e.to_string()),
    }
    raw::REDISMODULE_OK as c_int
}

/// Runs `handler`, turning a panic into `CommandError::Panicked`.
fn contained<T>(handler: impl FnOnce() -> Result<T, CommandError>) -> Result<T, CommandError> {
    catch_unwind(AssertUnwindSafe(handler)).unwrap_or(Err(CommandError::Panicked))
}

/// `key limit window [options]`, the arguments of RL.HIT and RL.PEEK.
fn key_and_limit<'a>(args: &'a [Arg<'a>]) -> Result<(Name<'a>, Params), CommandError> {
    let [_, key, limit, window, options @ ..] = args else {
        return Err(CommandError::Arity);
    };
    let options = options.iter().map(|a| a.bytes());
    let default = config::settings();
    let params = parse::hit_params(limit.bytes(), window.bytes(), options, &default)?;
    Ok(((*key).into(), params))
}

/// The core of every consuming command on one key: open it, decide, store what changed
/// (announced as `event`).
fn hit_key(ctx: Ctx, name: Name, params: &Params, event: &CStr) -> Result<Decision, CommandError> {
    let key = Key::open(ctx, name, Access::Write);
    let stored = store::read(&key)?;
    let outcome = decide(stored.held(), params, ctx.now());
    let decision = outcome.decision;
    if let Some(write) = outcome.to_store() {
        store::write(&key, &stored, write, event)?;
    }
    if !decision.allowed {
        notify::denied(ctx, name);
    }
    Ok(decision)
}

#[cfg(test)]
mod tests;
