//! `RL.SETSTATE key state`: the effect of a limiter command, as replicas and the AOF receive it.
//!
//! It carries the resulting state with absolute times, so replaying it reproduces the source's
//! bytes whatever the local clock says. It is replication plumbing: internal on servers that
//! have internal commands, and in `@admin @dangerous` elsewhere. Anything it accepts is a
//! state the limiter can work with: the bytes are checked with the one validity rule.

use rl_core::codec;

use super::declaration::{arg, ArgType, Command, Keys, OVERWRITE};
use super::{CommandError, Reply};
use crate::redis::context::{Arg, Ctx};
use crate::redis::key::{Access, Key};
use crate::redis::store::{self, NotApplied};

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

super::entry!(COMMAND);

fn run<'a>(ctx: Ctx<'a>, args: &'a [Arg<'a>]) -> Result<Reply, CommandError> {
    let [_, key, state] = args else {
        return Err(CommandError::Arity);
    };
    let effect = codec::decode_effect(state.bytes()).map_err(CommandError::InvalidState)?;
    let key = Key::open(ctx, (*key).into(), Access::Write);
    let stored = store::read(&key)?;
    match store::apply(&key, &stored, effect, ctx.is_replayed()) {
        Ok(()) => Ok(Reply::Ok),
        Err(NotApplied::Unstorable(e)) => Err(e.into()),
        Err(NotApplied::NotThisLog) => Err(CommandError::NotThisLog),
    }
}
