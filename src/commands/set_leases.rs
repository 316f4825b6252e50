//! `RL.SETLEASES key state`: the effect of RL.ACQUIRE, RL.RELEASE and RL.RENEW, as replicas
//! and the AOF receive it (and what the AOF rewrite writes).
//!
//! It carries the key's resulting leases with absolute times, so replaying it reproduces the
//! source's bytes whatever the local clock says, and a released lease, absent from it, is gone
//! everywhere. Like RL.SETSTATE it is replication plumbing: internal on servers that have
//! internal commands, and in `@admin @dangerous` (not `@ratelimit`) elsewhere, so that a client
//! that may only take leases cannot forge free capacity. The bytes are checked with the one
//! validity rule.

use rl_core::leases::codec;

use super::declaration::{arg, ArgType, Command, Keys, OVERWRITE};
use super::{CommandError, Reply};
use crate::redis::context::{Arg, Ctx};
use crate::redis::key::{Access, Key};
use crate::redis::leases;

pub const COMMAND: Command = Command {
    name: c"rl.setleases",
    flags: c"write deny-oom",
    internal: true,
    acl_categories: "write slow admin dangerous",
    rate_limiting: false,
    summary: "Stores the leases of a key: the effect RL.ACQUIRE, RL.RELEASE and RL.RENEW send \
              to replicas and the AOF",
    complexity: "O(N) where N is the number of leases in the state",
    arity: 3,
    keys: Keys::First(OVERWRITE),
    args: &[
        arg("key", ArgType::Key, "the key holding the leases"),
        arg("state", ArgType::String, "the encoded leases"),
    ],
    entry,
    handler: run,
};

super::entry!(COMMAND);

fn run<'a>(ctx: Ctx<'a>, args: &'a [Arg<'a>]) -> Result<Reply, CommandError> {
    let [_, key, state] = args else {
        return Err(CommandError::Arity);
    };
    let state = codec::decode(state.bytes()).map_err(CommandError::InvalidLeases)?;
    let key = Key::open(ctx, (*key).into(), Access::Write);
    let stored = leases::read(&key)?;
    leases::apply(&key, stored, state, ctx.is_replayed())?;
    Ok(Reply::Ok)
}
