//! `RL.RENEW key id lease`: a held lease now expires `lease` from now (longer or shorter than
//! it had left), for jobs that outlast their first lease. 1 if it was held, 0 if it had
//! expired or never existed (the holder lost it, and must not assume it holds capacity). Not
//! `deny-oom`: a renewal takes no more memory, and a long job must keep its lease when the
//! server is full.

use rl_core::leases as lease_core;
use rl_core::parse;

use super::declaration::{arg, ArgType, Command, Keys};
use super::{CommandError, Reply};
use crate::redis::context::{Arg, Ctx};
use crate::redis::key::{Access, Key};
use crate::redis::{leases, notify};
use redis_module::raw;

/// The key is read and its value changed in place.
const READ_UPDATE_ONLY: u32 = raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_UPDATE;

pub const COMMAND: Command = Command {
    name: c"rl.renew",
    flags: c"write fast",
    internal: false,
    acl_categories: "write fast",
    rate_limiting: true,
    summary: "Extends a lease taken with RL.ACQUIRE to expire a given time from now: 1 if it \
              was held, 0 if not",
    complexity: "O(N) where N is the number of leases held under the key",
    arity: 4,
    keys: Keys::First(READ_UPDATE_ONLY),
    args: &[
        arg("key", ArgType::Key, "the key the lease was acquired on"),
        arg("id", ArgType::String, "the lease id RL.ACQUIRE answered"),
        arg(
            "lease",
            ArgType::String,
            "how long from now the lease holds: seconds, or with a unit ms, s, m, h, d",
        ),
    ],
    entry,
    handler: run,
};

super::entry!(COMMAND);

fn run<'a>(ctx: Ctx<'a>, args: &'a [Arg<'a>]) -> Result<Reply, CommandError> {
    let [_, key, id, lease] = args else {
        return Err(CommandError::Arity);
    };
    let id = parse::lease_id(id.bytes(), "id")?;
    let lease = parse::lease_duration(lease.bytes())?;
    let key = Key::open(ctx, (*key).into(), Access::Write);
    let stored = leases::read(&key)?;
    let change = lease_core::renew(stored.leases(), id.as_bytes(), lease, ctx.now());
    if let Some(state) = change.to_store {
        leases::write(&key, stored, state, notify::RENEW)?;
    }
    Ok(Reply::Held(change.held))
}
