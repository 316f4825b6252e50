//! `RL.HIT key limit window [COST n] [ALGO a] [BURST n]`: decide, consume when admitted,
//! answer.

use super::declaration::{Command, Keys, ONE_LIMIT, READ_UPDATE};
use super::{CommandError, Reply};
use crate::redis::context::{Arg, Ctx};
use crate::redis::{metrics, notify};

pub const COMMAND: Command = Command {
    name: c"rl.hit",
    flags: c"write deny-oom fast",
    internal: false,
    acl_categories: "write fast",
    rate_limiting: true,
    summary: "Counts a request against a rate limit and answers whether it is allowed, with \
              the remaining capacity and the time to wait",
    complexity: "O(1)",
    arity: -4,
    keys: Keys::First(READ_UPDATE),
    args: ONE_LIMIT,
    entry,
    handler: run,
};

super::entry!(COMMAND);

fn run<'a>(ctx: Ctx<'a>, args: &'a [Arg<'a>]) -> Result<Reply, CommandError> {
    let (key, params) = super::key_and_limit(args)?;
    let decision = super::hit_key(ctx, key, &params, notify::HIT)?;
    metrics::record(decision.allowed);
    Ok(Reply::Decision(decision))
}
