//! Turning a command's arguments into validated parameters.
//!
//! Numbers follow Redis' own integer syntax (no sign, no spaces, no leading zeros, no exponent)
//! with overflow checks; durations are such a number with an optional unit. Option names are
//! case-insensitive. Every error names the argument and says what is expected; the bounds
//! themselves are `Params::new`'s.

use std::fmt;

use crate::bounded::Bounded;
use crate::leases::{
    LeaseId, LeaseParamError, LeaseParams, DEFAULT_MAX_HELD, MAX_HELD, MAX_ID_LEN,
};
use crate::{Algorithm, Micros, ParamError, Params, MAX_LIMIT, MAX_WINDOW, MIN_WINDOW};

/// The most limits one RL.MHIT call may check.
pub const MAX_KEYS: usize = 64;

/// What the server's configuration adds to a command's arguments.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// The algorithm of a limit that names none (`rl.default-algorithm`).
    pub default_algorithm: Algorithm,
    /// The most entries an ALGO LOG key may need (`rl.log-max-entries`).
    pub log_max_entries: u64,
    /// The most leases a key may hold, so the largest RL.ACQUIRE limit (`rl.lease-max-held`).
    pub lease_max_held: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            default_algorithm: Algorithm::Sliding,
            log_max_entries: 10_000,
            lease_max_held: DEFAULT_MAX_HELD,
        }
    }
}

/// Why the arguments were refused. Displayed, it is the error reply after `ERR `.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgError {
    Limit,
    Window,
    Cost,
    Burst,
    /// RL.ACQUIRE's limit, at most `rl.lease-max-held` (the value given).
    LeaseLimit(u64),
    Lease,
    /// A lease id, named as the command names it (`ID`, `id`).
    LeaseId(&'static str),
    Algorithm,
    BurstWithoutBucket,
    BurstTooLarge,
    UnknownOption(String, &'static str),
    MissingValue(&'static str),
    Repeated(&'static str),
    NumKeys,
    ClauseCount {
        keys: usize,
        clauses: usize,
    },
    OutsideClause(&'static str),
    RepeatedKey,
    /// ALGO LOG could need more entries than `rl.log-max-entries`.
    LogTooLong {
        needs: u64,
        max: u64,
    },
    MaxBurst,
    Count,
    Period,
    Quantity,
    CellBurstTooLarge,
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgError::Limit => write!(f, "limit must be an integer from 1 to {MAX_LIMIT}"),
            ArgError::Window => f.write_str(
                "window must be a duration such as 60, 1500ms, 10s, 5m, 1h or 1d (from 1ms to \
                 36500d)",
            ),
            ArgError::Cost => write!(f, "COST must be an integer from 1 to {MAX_LIMIT}"),
            ArgError::Burst => write!(f, "BURST must be an integer from 1 to {MAX_LIMIT}"),
            ArgError::LeaseLimit(max) => write!(
                f,
                "limit must be an integer from 1 to {max}, the most leases a key may hold \
                 (rl.lease-max-held)"
            ),
            ArgError::Lease => f.write_str(
                "lease must be a duration such as 60, 1500ms, 10s, 5m, 1h or 1d (from 1ms to \
                 36500d)",
            ),
            ArgError::LeaseId(name) => write!(f, "{name} must be from 1 to {MAX_ID_LEN} bytes"),
            ArgError::Algorithm => write!(f, "ALGO must be one of {}", Algorithm::listed()),
            ArgError::BurstWithoutBucket => {
                f.write_str("BURST applies to ALGO TOKEN, LEAKY and GCRA only")
            }
            ArgError::BurstTooLarge => f.write_str(
                "BURST is too large for this rate: BURST × window / limit must be at most 36500d",
            ),
            ArgError::UnknownOption(name, expected) => {
                write!(f, "unknown option '{name}', expected {expected}")
            }
            ArgError::MissingValue(option) => write!(f, "{option} needs a value"),
            ArgError::Repeated(option) => write!(f, "{option} is given more than once"),
            ArgError::NumKeys => write!(
                f,
                "numkeys must be an integer from 1 to {MAX_KEYS}, and no more than the keys given"
            ),
            ArgError::ClauseCount { keys, clauses } => write!(
                f,
                "RL.MHIT needs one LIMIT clause per key: {keys} keys, {clauses} LIMIT clauses"
            ),
            ArgError::OutsideClause(option) => {
                write!(f, "{option} must follow the LIMIT clause it applies to")
            }
            ArgError::RepeatedKey => f.write_str("RL.MHIT keys must be distinct"),
            ArgError::LogTooLong { needs, max } => write!(
                f,
                "ALGO LOG keeps an entry per millisecond with admissions in the window, up to \
                 {needs} for this limit and window, more than rl.log-max-entries ({max})"
            ),
            ArgError::MaxBurst => {
                write!(
                    f,
                    "max_burst must be an integer from 0 to {}",
                    MAX_LIMIT - 1
                )
            }
            ArgError::Count => write!(f, "count must be an integer from 1 to {MAX_LIMIT}"),
            ArgError::Period => write!(
                f,
                "period must be a number of seconds from 1 to {}",
                MAX_WINDOW.as_micros() / 1_000_000
            ),
            ArgError::Quantity => write!(f, "quantity must be an integer from 0 to {MAX_LIMIT}"),
            ArgError::CellBurstTooLarge => f.write_str(
                "max_burst is too large for this rate: (max_burst + 1) × period / count must be \
                 at most 36500d",
            ),
        }
    }
}

/// How RL.HIT, RL.PEEK and RL.MHIT name what `Params::new` refused.
fn limit_error(e: ParamError) -> ArgError {
    match e {
        ParamError::Limit => ArgError::Limit,
        ParamError::Window => ArgError::Window,
        ParamError::Cost => ArgError::Cost,
        ParamError::Burst => ArgError::Burst,
        ParamError::BurstWithoutBucket => ArgError::BurstWithoutBucket,
        ParamError::BurstTooLarge => ArgError::BurstTooLarge,
    }
}

/// How CL.THROTTLE names what `Params::new` refused, in redis-cell's terms.
fn cell_error(e: ParamError) -> ArgError {
    match e {
        ParamError::Limit => ArgError::Count,
        ParamError::Window => ArgError::Period,
        ParamError::Cost => ArgError::Quantity,
        ParamError::Burst | ParamError::BurstWithoutBucket => ArgError::MaxBurst,
        ParamError::BurstTooLarge => ArgError::CellBurstTooLarge,
    }
}

/// The options of one limit, before validation.
#[derive(Default)]
struct Options {
    algorithm: Option<Algorithm>,
    burst: Option<u64>,
}

impl Options {
    /// Takes `name value` when `name` is an option of a limit; `Ok(false)` otherwise.
    fn take(&mut self, name: &[u8], value: Option<&[u8]>) -> Result<bool, ArgError> {
        if name.eq_ignore_ascii_case(b"ALGO") {
            let value = value.ok_or(ArgError::MissingValue("ALGO"))?;
            set_once(&mut self.algorithm, "ALGO", algorithm(value)?)?;
        } else if name.eq_ignore_ascii_case(b"BURST") {
            let value = value.ok_or(ArgError::MissingValue("BURST"))?;
            set_once(
                &mut self.burst,
                "BURST",
                count(value).ok_or(ArgError::Burst)?,
            )?;
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    fn params(
        &self,
        limit: u64,
        window: Micros,
        cost: u64,
        settings: &Settings,
    ) -> Result<Params, ArgError> {
        let algorithm = self.algorithm.unwrap_or(settings.default_algorithm);
        let params =
            Params::new(algorithm, limit, window, self.burst, cost).map_err(limit_error)?;
        if algorithm == Algorithm::Log {
            // At most one entry per millisecond, and each holds at least one unit.
            let needs = limit.min(window.as_micros() / 1000);
            if needs > settings.log_max_entries {
                return Err(ArgError::LogTooLong {
                    needs,
                    max: settings.log_max_entries,
                });
            }
        }
        Ok(params)
    }
}

/// `limit window [COST n] [ALGO a] [BURST n]`: the arguments of RL.HIT and RL.PEEK after the
/// key.
pub fn hit_params<'a>(
    limit: &[u8],
    window: &[u8],
    options: impl IntoIterator<Item = &'a [u8]>,
    settings: &Settings,
) -> Result<Params, ArgError> {
    let limit = count(limit).ok_or(ArgError::Limit)?;
    let window = duration(window).ok_or(ArgError::Window)?;
    let mut cost = None;
    let mut limit_options = Options::default();
    let mut options = options.into_iter();
    while let Some(name) = options.next() {
        let value = options.next();
        if name.eq_ignore_ascii_case(b"COST") {
            let value = value.ok_or(ArgError::MissingValue("COST"))?;
            set_once(&mut cost, "COST", count(value).ok_or(ArgError::Cost)?)?;
        } else if !limit_options.take(name, value)? {
            return Err(unknown(name, "COST, ALGO or BURST"));
        }
    }
    limit_options.params(limit, window, cost.unwrap_or(1), settings)
}

/// RL.MHIT's numkeys, given how many arguments follow it.
pub fn numkeys(text: &[u8], following: usize) -> Result<usize, ArgError> {
    integer(text)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| (1..=MAX_KEYS).contains(n) && *n <= following)
        .ok_or(ArgError::NumKeys)
}

/// The limits of one RL.MHIT call, one per key.
pub type Limits = Bounded<Params, MAX_KEYS>;

/// RL.MHIT's arguments after the keys: one `LIMIT limit window [ALGO a] [BURST n]` clause per
/// key, in the keys' order, and `[COST n]` for the request.
pub fn mhit_params<'a>(
    keys: usize,
    tokens: impl IntoIterator<Item = &'a [u8]>,
    settings: &Settings,
) -> Result<Limits, ArgError> {
    let mut clauses: Bounded<(u64, Micros, Options), MAX_KEYS> = Bounded::new();
    let too_many = ArgError::ClauseCount {
        keys,
        clauses: MAX_KEYS + 1,
    };
    let mut cost = None;
    let mut tokens = tokens.into_iter();
    while let Some(name) = tokens.next() {
        if name.eq_ignore_ascii_case(b"LIMIT") {
            let limit = tokens.next().ok_or(ArgError::MissingValue("LIMIT"))?;
            let window = tokens.next().ok_or(ArgError::MissingValue("LIMIT"))?;
            let limit = count(limit).ok_or(ArgError::Limit)?;
            let window = duration(window).ok_or(ArgError::Window)?;
            clauses
                .push((limit, window, Options::default()))
                .map_err(|_| too_many.clone())?;
            continue;
        }
        let value = tokens.next();
        if name.eq_ignore_ascii_case(b"COST") {
            let value = value.ok_or(ArgError::MissingValue("COST"))?;
            set_once(&mut cost, "COST", count(value).ok_or(ArgError::Cost)?)?;
        } else if name.eq_ignore_ascii_case(b"ALGO") || name.eq_ignore_ascii_case(b"BURST") {
            let option = if name.eq_ignore_ascii_case(b"ALGO") {
                "ALGO"
            } else {
                "BURST"
            };
            let (_, _, options) = clauses
                .as_mut_slice()
                .last_mut()
                .ok_or(ArgError::OutsideClause(option))?;
            options.take(name, value)?;
        } else {
            return Err(unknown(name, "LIMIT, COST, ALGO or BURST"));
        }
    }
    if clauses.len() != keys {
        return Err(ArgError::ClauseCount {
            keys,
            clauses: clauses.len(),
        });
    }
    let cost = cost.unwrap_or(1);
    let mut limits = Limits::new();
    for (limit, window, options) in clauses.as_slice() {
        let params = options.params(*limit, *window, cost, settings)?;
        limits.push(params).map_err(|_| too_many.clone())?;
    }
    Ok(limits)
}

/// CL.THROTTLE's `max_burst count period [quantity]`, as redis-cell reads them: a GCRA of
/// `count` per `period` seconds holding `max_burst + 1`.
pub fn cell_params(
    max_burst: &[u8],
    count_per_period: &[u8],
    period: &[u8],
    quantity: Option<&[u8]>,
) -> Result<Params, ArgError> {
    let burst = integer(max_burst)
        .filter(|n| *n < MAX_LIMIT)
        .ok_or(ArgError::MaxBurst)?
        + 1;
    let limit = count(count_per_period).ok_or(ArgError::Count)?;
    let window = integer(period)
        .filter(|s| *s >= 1)
        .map(|s| Micros::from_millis(s.saturating_mul(1_000)))
        .ok_or(ArgError::Period)?;
    let cost = match quantity {
        None => 1,
        Some(q) => integer(q).ok_or(ArgError::Quantity)?,
    };
    Params::new(Algorithm::Gcra, limit, window, Some(burst), cost).map_err(cell_error)
}

/// RL.ACQUIRE's `limit lease [COST n] [ID id]`; a key may hold at most
/// `settings.lease_max_held` leases. The id is `None` when the server is to make one.
pub fn acquire_params<'a>(
    limit: &[u8],
    lease: &[u8],
    options: impl IntoIterator<Item = &'a [u8]>,
    settings: &Settings,
) -> Result<(LeaseParams, Option<LeaseId>), ArgError> {
    let max_held = settings.lease_max_held.clamp(1, MAX_HELD);
    let limit = count(limit)
        .filter(|n| *n <= max_held)
        .ok_or(ArgError::LeaseLimit(max_held))?;
    let lease = lease_duration(lease)?;
    let mut cost = None;
    let mut id = None;
    let mut options = options.into_iter();
    while let Some(name) = options.next() {
        let value = options.next();
        if name.eq_ignore_ascii_case(b"COST") {
            let value = value.ok_or(ArgError::MissingValue("COST"))?;
            set_once(&mut cost, "COST", count(value).ok_or(ArgError::Cost)?)?;
        } else if name.eq_ignore_ascii_case(b"ID") {
            let value = value.ok_or(ArgError::MissingValue("ID"))?;
            set_once(&mut id, "ID", lease_id(value, "ID")?)?;
        } else {
            return Err(unknown(name, "COST or ID"));
        }
    }
    let params = LeaseParams::new(limit, lease, cost.unwrap_or(1)).map_err(|e| match e {
        LeaseParamError::Limit => ArgError::LeaseLimit(max_held),
        LeaseParamError::Lease => ArgError::Lease,
        LeaseParamError::Cost => ArgError::Cost,
    })?;
    Ok((params, id))
}

/// How long a lease lasts (RL.ACQUIRE, RL.RENEW): a duration, as a window is.
pub fn lease_duration(text: &[u8]) -> Result<Micros, ArgError> {
    duration(text).ok_or(ArgError::Lease)
}

/// A lease id, 1 to 64 bytes; `name` is the argument's name in the error.
pub fn lease_id(text: &[u8], name: &'static str) -> Result<LeaseId, ArgError> {
    LeaseId::new(text).ok_or(ArgError::LeaseId(name))
}

fn set_once<T>(slot: &mut Option<T>, name: &'static str, value: T) -> Result<(), ArgError> {
    if slot.replace(value).is_some() {
        return Err(ArgError::Repeated(name));
    }
    Ok(())
}

fn unknown(name: &[u8], expected: &'static str) -> ArgError {
    // Shown back to the user in an error line: printable ASCII only, and short.
    let shown: String = name
        .iter()
        .take(32)
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect();
    ArgError::UnknownOption(shown, expected)
}

pub fn algorithm(text: &[u8]) -> Result<Algorithm, ArgError> {
    Algorithm::from_name(text).ok_or(ArgError::Algorithm)
}

/// A count of units: 1..=MAX_LIMIT.
fn count(text: &[u8]) -> Option<u64> {
    integer(text).filter(|n| (1..=MAX_LIMIT).contains(n))
}

/// A non-negative integer in Redis' syntax: digits only, no leading zero except "0" itself.
pub fn integer(text: &[u8]) -> Option<u64> {
    match text {
        [b'0'] => Some(0),
        [b'1'..=b'9', ..] => text.iter().try_fold(0u64, |n, &b| {
            let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
            n.checked_mul(10)?.checked_add(u64::from(digit))
        }),
        _ => None,
    }
}

/// A duration: an integer with an optional unit (`ms`, `s`, `m`, `h`, `d`; seconds if none),
/// from MIN_WINDOW to MAX_WINDOW.
pub fn duration(text: &[u8]) -> Option<Micros> {
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    let (number, unit) = text.split_at(digits);
    let unit_ms: u64 = match unit.to_ascii_lowercase().as_slice() {
        b"" | b"s" => 1_000,
        b"ms" => 1,
        b"m" => 60_000,
        b"h" => 3_600_000,
        b"d" => 86_400_000,
        _ => return None,
    };
    let ms = integer(number)?.checked_mul(unit_ms)?;
    let window = Micros::from_micros(ms.checked_mul(1000)?);
    (MIN_WINDOW..=MAX_WINDOW)
        .contains(&window)
        .then_some(window)
}

#[cfg(test)]
mod tests;
