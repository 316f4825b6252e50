//! `RL.PEEK key limit window [COST n] [ALGO a] [BURST n]`: the answer RL.HIT would give, with
//! nothing consumed, written or propagated. Read-only, so it also runs on replicas.

use rl_core::decide;

use super::declaration::{Command, Keys, ONE_LIMIT, READ_ONLY};
use super::{CommandError, Reply};
use crate::redis::context::{Arg, Ctx};
use crate::redis::key::{Access, Key};
use crate::redis::store;

pub const COMMAND: Command = Command {
    name: c"rl.peek",
    flags: c"readonly fast",
    internal: false,
    acl_categories: "read fast",
    rate_limiting: true,
    summary: "Answers what RL.HIT would, without consuming or writing anything",
    complexity: "O(1)",
    arity: -4,
    keys: Keys::First(READ_ONLY),
    args: ONE_LIMIT,
    entry,
    handler: run,
};

super::entry!(COMMAND);

fn run<'a>(ctx: Ctx<'a>, args: &'a [Arg<'a>]) -> Result<Reply, CommandError> {
    let (key, params) = super::key_and_limit(args)?;
    let key = Key::open(ctx, key, Access::Read);
    let stored = store::read(&key)?;
    let outcome = decide(stored.held(), &params, ctx.now());
    Ok(Reply::Decision(outcome.decision))
}
