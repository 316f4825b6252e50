//! `RL.RELEASE key id`: frees a lease at once. 1 if it was held, 0 if it had expired or never
//! existed; releasing twice is harmless. Not `deny-oom`: releasing only frees memory, and must
//! work when the server is full.

use rl_core::leases as lease_core;
use rl_core::parse;

use super::declaration::{arg, ArgType, Command, Keys};
use super::{CommandError, Reply};
use crate::redis::context::{Arg, Ctx};
use crate::redis::key::{Access, Key};
use crate::redis::{leases, notify};
use redis_module::raw;

/// The key is read, and may lose a lease or be deleted.
const READ_DELETE: u32 = raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_DELETE;

pub const COMMAND: Command = Command {
    name: c"rl.release",
    flags: c"write fast",
    internal: false,
    acl_categories: "write fast",
    rate_limiting: true,
    summary: "Releases a lease taken with RL.ACQUIRE: 1 if it was held, 0 if not",
    complexity: "O(N) where N is the number of leases held under the key",
    arity: 3,
    keys: Keys::First(READ_DELETE),
    args: &[
        arg("key", ArgType::Key, "the key the lease was acquired on"),
        arg("id", ArgType::String, "the lease id RL.ACQUIRE answered"),
    ],
    entry,
    handler: run,
};

super::entry!(COMMAND);

fn run<'a>(ctx: Ctx<'a>, args: &'a [Arg<'a>]) -> Result<Reply, CommandError> {
    let [_, key, id] = args else {
        return Err(CommandError::Arity);
    };
    let id = parse::lease_id(id.bytes(), "id")?;
    let key = Key::open(ctx, (*key).into(), Access::Write);
    let stored = leases::read(&key)?;
    let change = lease_core::release(stored.leases(), id.as_bytes(), ctx.now());
    if let Some(state) = change.to_store {
        leases::write(&key, stored, state, notify::RELEASE)?;
    }
    Ok(Reply::Held(change.held))
}
