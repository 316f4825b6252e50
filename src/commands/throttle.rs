//! `CL.THROTTLE key max_burst count period [quantity]`: redis-cell's command and reply, on the
//! module's GCRA (registered when the module is loaded with `cell-compat yes`).

use rl_core::parse;

use super::declaration::{arg, ArgType, Command, Keys, READ_UPDATE};
use super::{CommandError, Reply};
use crate::redis::context::{Arg, Ctx};
use crate::redis::{metrics, notify};

pub const COMMAND: Command = Command {
    name: c"cl.throttle",
    flags: c"write deny-oom fast",
    internal: false,
    acl_categories: "write fast",
    rate_limiting: true,
    summary: "redis-cell compatible GCRA rate limiting",
    complexity: "O(1)",
    arity: -5,
    keys: Keys::First(READ_UPDATE),
    args: &[
        arg("key", ArgType::Key, "the limited subject"),
        arg("max_burst", ArgType::Integer, "the capacity minus one"),
        arg("count", ArgType::Integer, "units per period"),
        arg("period", ArgType::Integer, "seconds"),
        super::declaration::ArgDoc {
            optional: true,
            ..arg(
                "quantity",
                ArgType::Integer,
                "units this request consumes (default 1)",
            )
        },
    ],
    entry,
    handler: run,
};

super::entry!(COMMAND);

fn run<'a>(ctx: Ctx<'a>, args: &'a [Arg<'a>]) -> Result<Reply, CommandError> {
    let (key, max_burst, count, period, quantity) = match args {
        [_, k, b, c, p] => (k, b, c, p, None),
        [_, k, b, c, p, q] => (k, b, c, p, Some(q.bytes())),
        _ => return Err(CommandError::Arity),
    };
    let params = parse::cell_params(max_burst.bytes(), count.bytes(), period.bytes(), quantity)?;
    let decision = super::hit_key(ctx, (*key).into(), &params, notify::THROTTLE)?;
    metrics::record(decision.allowed);
    Ok(Reply::Cell(decision))
}
