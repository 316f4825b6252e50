//! The per-key state of a limiter, and the one rule of what a valid state is.
//!
//! Every state is dated: `as_of` is the instant of the decision that wrote it, and the rest
//! describes the usage relative to that instant. A state read at an earlier instant than its
//! own (the clock stepped back, or the state was written on a host whose clock is ahead) is
//! read as it stood at `as_of`, moved to now: its usage is neither forgotten nor counted twice,
//! and it decays from now on as it would have from `as_of`.
//!
//! `State::validate` is the one definition of a state the module may hold. The byte decoder
//! refuses anything else (RDB, RESTORE, replication, AOF), and the store checks every state
//! before writing it, so every state the module stores is one it can load again.

use std::fmt;

use crate::engines::bucket::Bucket;
use crate::engines::fixed::Fixed;
use crate::engines::sliding::Sliding;
use crate::params::drains_in_time;
use crate::{Algorithm, Micros, Params, MAX_INSTANT, MAX_LIMIT, MAX_WINDOW, MIN_WINDOW};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Sliding(Sliding),
    Fixed(Fixed),
    Bucket(Bucket),
}

/// What makes a state invalid: the field at fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    Window,
    AsOf,
    Into,
    Count,
    Limit,
    Burst,
    Frac,
    Level,
    Empty,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Invalid::Window => "the window is outside 1ms to 36500d",
            Invalid::AsOf => "its instant is later than the year 4253",
            Invalid::Into => "its offset into the window is not shorter than the window",
            Invalid::Count => "a count is larger than 9223372036854775807",
            Invalid::Limit => "the bucket's limit is outside 1 to 9223372036854775807",
            Invalid::Burst => {
                "the bucket's burst is outside 1 to 9223372036854775807, or takes longer than \
                 36500d to drain"
            }
            Invalid::Frac => "the bucket's fraction is not smaller than its limit",
            Invalid::Level => "the bucket holds more than its burst",
            Invalid::Empty => "it holds no usage (such a key is deleted, not stored)",
        })
    }
}

impl State {
    /// Checks everything the limiter's arithmetic and the encodings rely on, whatever the
    /// clock: a valid state stays valid, and loadable, forever.
    pub fn validate(&self) -> Result<(), Invalid> {
        let check = |ok: bool, why: Invalid| if ok { Ok(()) } else { Err(why) };
        check(
            (MIN_WINDOW..=MAX_WINDOW).contains(&self.window()),
            Invalid::Window,
        )?;
        check(self.as_of() <= MAX_INSTANT, Invalid::AsOf)?;
        match self {
            State::Sliding(s) => {
                check(s.into < s.window, Invalid::Into)?;
                check(s.current.max(s.previous) <= MAX_LIMIT, Invalid::Count)?;
            }
            State::Fixed(s) => {
                check(s.into < s.window, Invalid::Into)?;
                check(s.count <= MAX_LIMIT, Invalid::Count)?;
            }
            State::Bucket(s) => {
                check((1..=MAX_LIMIT).contains(&s.limit), Invalid::Limit)?;
                check(
                    (1..=MAX_LIMIT).contains(&s.burst)
                        && drains_in_time(s.burst, s.window, s.limit),
                    Invalid::Burst,
                )?;
                check(s.frac < s.limit, Invalid::Frac)?;
                check(
                    s.level() <= u128::from(s.burst) * s.window.wide(),
                    Invalid::Level,
                )?;
            }
        }
        check(self.expires_at().is_some(), Invalid::Empty)
    }

    pub(crate) fn as_sliding(self) -> Option<Sliding> {
        match self {
            State::Sliding(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_fixed(self) -> Option<Fixed> {
        match self {
            State::Fixed(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_bucket(self) -> Option<Bucket> {
        match self {
            State::Bucket(s) => Some(s),
            _ => None,
        }
    }

    /// The length of the state's window (for a bucket, with its limit, its rate).
    pub fn window(&self) -> Micros {
        match self {
            State::Sliding(s) => s.window,
            State::Fixed(s) => s.window,
            State::Bucket(s) => s.window,
        }
    }

    /// The instant of the decision that wrote the state.
    pub fn as_of(&self) -> Micros {
        match self {
            State::Sliding(s) => s.as_of,
            State::Fixed(s) => s.as_of,
            State::Bucket(s) => s.as_of,
        }
    }

    /// The same usage dated `now`: how a state dated later than the clock is read.
    pub fn moved_to(&self, now: Micros) -> State {
        let mut moved = *self;
        match &mut moved {
            State::Sliding(s) => s.as_of = now,
            State::Fixed(s) => s.as_of = now,
            State::Bucket(s) => s.as_of = now,
        }
        moved
    }

    /// The instant from which the state carries no information (full capacity again), or
    /// `None` when it carries none already: the key may expire then.
    pub fn expires_at(&self) -> Option<Micros> {
        match self {
            State::Sliding(s) => s.expires_at(),
            State::Fixed(s) => s.expires_at(),
            State::Bucket(s) => s.expires_at(),
        }
    }

    /// Whether `params` read this state as it is. Otherwise its usage is carried over into a
    /// state shaped for them: another algorithm, another window, or for a bucket another rate.
    pub(crate) fn fits(&self, params: &Params) -> bool {
        match (self, params.algorithm) {
            (State::Sliding(s), Algorithm::Sliding) => s.window == params.window,
            (State::Fixed(s), Algorithm::Fixed) => s.window == params.window,
            (State::Bucket(s), a) if a.has_burst() => {
                s.window == params.window && s.limit == params.limit
            }
            _ => false,
        }
    }

    /// Units in use at `now`, rounded up.
    pub(crate) fn used(&self, now: Micros) -> u64 {
        match self {
            State::Sliding(s) => s.used(now),
            State::Fixed(s) => s.used(now),
            State::Bucket(s) => s.used(now),
        }
    }

    /// A state for `params` with `used` units consumed at `now` (at most the capacity). ALGO
    /// LOG keeps a log, not a state (see `engines::log::Log::seeded`): it gets a bucket here,
    /// which `decide` never asks for.
    pub(crate) fn seeded(params: &Params, used: u64, now: Micros) -> State {
        let used = used.min(params.capacity());
        match params.algorithm {
            Algorithm::Sliding => State::Sliding(Sliding::seeded(params, used, now)),
            Algorithm::Fixed => State::Fixed(Fixed::seeded(params, used, now)),
            Algorithm::Token | Algorithm::Leaky | Algorithm::Gcra | Algorithm::Log => {
                State::Bucket(Bucket::seeded(params, used, now))
            }
        }
    }
}
