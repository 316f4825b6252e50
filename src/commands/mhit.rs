//! `RL.MHIT numkeys key [key ...] LIMIT limit window [ALGO a] [BURST n] [LIMIT ...] [COST n]`:
//! one request checked against several limits, all or nothing (the policy is
//! `rl_core::multi`'s). The i-th LIMIT clause applies to the i-th key.
//!
//! Reply: the five fields of RL.HIT for the whole request, then the 1-based position of the
//! key whose limit decided it.

use rl_core::bounded::Bounded;
use rl_core::multi::decide_all;
use rl_core::parse::{self, ArgError, Limits, MAX_KEYS};
use rl_core::Held;

use super::declaration::{
    arg, ArgDoc, ArgType, Command, Keys, ALGO, BURST, COST, LIMIT, READ_UPDATE, WINDOW,
};
use super::{CommandError, Reply};
use crate::redis::context::{Arg, Ctx};
use crate::redis::key::{Access, Key};
use crate::redis::store::{self, Stored};
use crate::redis::{config, metrics, notify};

pub const COMMAND: Command = Command {
    name: c"rl.mhit",
    flags: c"write deny-oom getkeys-api",
    internal: false,
    acl_categories: "write slow",
    rate_limiting: true,
    summary: "Counts a request against several rate limits at once: all admit and consume it, \
              or none does",
    complexity: "O(N) where N is the number of keys",
    arity: -6,
    keys: Keys::Counted(READ_UPDATE),
    args: &[
        arg(
            "numkeys",
            ArgType::Integer,
            "how many keys (and LIMIT clauses) follow",
        ),
        ArgDoc {
            multiple: true,
            ..arg("key", ArgType::Key, "a limited subject")
        },
        ArgDoc {
            token: Some("LIMIT"),
            multiple: true,
            subargs: &[LIMIT, WINDOW, ALGO, BURST],
            ..arg(
                "limit-clause",
                ArgType::Block,
                "the limit of the key in the same position",
            )
        },
        COST,
    ],
    entry,
    handler: run,
};

super::entry!(COMMAND);

fn run<'a>(ctx: Ctx<'a>, args: &'a [Arg<'a>]) -> Result<Reply, CommandError> {
    if ctx.is_keys_position_request() {
        declare_keys(ctx, args);
        return Ok(Reply::KeysDeclared);
    }
    let [_, numkeys, rest @ ..] = args else {
        return Err(CommandError::Arity);
    };
    let limits = parse_limits(*numkeys, rest)?;
    let limits = limits.as_slice();
    let mut keys: Bounded<Key, MAX_KEYS> = Bounded::new();
    for name in rest.iter().take(limits.len()) {
        // One key per limit, and there are at most MAX_KEYS limits.
        keys.push(Key::open(ctx, (*name).into(), Access::Write))
            .map_err(|_| too_many())?;
    }
    let mut stored: Bounded<Stored, MAX_KEYS> = Bounded::new();
    let mut held: Bounded<Option<Held>, MAX_KEYS> = Bounded::new();
    for key in keys.as_slice() {
        let value = store::read(key)?;
        held.push(value.held()).map_err(|_| too_many())?;
        stored.push(value).map_err(|_| too_many())?;
    }
    let outcome = decide_all(held.as_slice(), limits, ctx.now()).ok_or_else(too_many)?;
    // Everything is checked before anything is stored, so that a refusal leaves all keys as
    // they were.
    for write in outcome.to_store.as_slice().iter().flatten() {
        store::check(write)?;
    }
    let writes = outcome.to_store.as_slice().iter();
    for ((key, stored), write) in keys.as_slice().iter().zip(stored.as_slice()).zip(writes) {
        if let Some(write) = write {
            store::write(key, stored, write.clone(), notify::MULTI_HIT)?;
        }
    }
    metrics::record(outcome.decision.allowed);
    if !outcome.decision.allowed {
        if let Some(key) = keys.as_slice().get(outcome.deciding) {
            notify::denied(ctx, key.name());
        }
    }
    Ok(Reply::Multi(outcome.decision, outcome.deciding))
}

fn too_many() -> CommandError {
    CommandError::Args(ArgError::NumKeys)
}

/// Tells the server where the keys are, for cluster routing (Redis 7.0 reads a module
/// command's variable keys this way; the key specification serves ACLs and COMMAND GETKEYS).
fn declare_keys(ctx: Ctx, args: &[Arg]) {
    if let [_, numkeys, rest @ ..] = args {
        if let Ok(count) = parse::numkeys(numkeys.bytes(), rest.len()) {
            for pos in 2..2 + count {
                ctx.declare_key(pos, READ_UPDATE);
            }
        }
    }
}

/// The limits, one per key; the keys are the first `limits.len()` of `rest`.
fn parse_limits(numkeys: Arg, rest: &[Arg]) -> Result<Limits, ArgError> {
    let count = parse::numkeys(numkeys.bytes(), rest.len())?;
    let (keys, tokens) = rest.split_at(count);
    for (i, a) in keys.iter().enumerate() {
        if keys[..i].iter().any(|b| a.bytes() == b.bytes()) {
            return Err(ArgError::RepeatedKey);
        }
    }
    let tokens = tokens.iter().map(|s| s.bytes());
    parse::mhit_params(count, tokens, &config::settings())
}
