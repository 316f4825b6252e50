//! Turning a command's arguments into validated limiter parameters.
//!
//! Numbers follow Redis' own integer syntax (no sign, no spaces, no leading zeros, no exponent)
//! with overflow checks; durations are such a number with an optional unit. Every error names
//! the argument and says what is expected.

use crate::limiter::{Micros, Params, MAX_LIMIT, MAX_WINDOW, MIN_WINDOW};

/// Why the arguments were refused. `message()` is the error reply.
#[derive(Debug, PartialEq, Eq)]
pub enum ArgError {
    Limit,
    Window,
    Cost,
    UnknownOption(String),
    MissingValue(&'static str),
    Repeated(&'static str),
}

impl ArgError {
    pub fn message(&self) -> String {
        match self {
            ArgError::Limit => format!("ERR limit must be an integer from 1 to {MAX_LIMIT}"),
            ArgError::Window => "ERR window must be a duration such as 60, 1500ms, 10s, 5m, 1h \
                                 or 1d (from 1ms to 36500d)"
                .to_string(),
            ArgError::Cost => format!("ERR COST must be an integer from 1 to {MAX_LIMIT}"),
            ArgError::UnknownOption(name) => {
                format!("ERR unknown option '{name}', expected COST")
            }
            ArgError::MissingValue(option) => format!("ERR {option} needs a value"),
            ArgError::Repeated(option) => format!("ERR {option} is given more than once"),
        }
    }
}

/// `limit window [COST n]`, the arguments after the key.
pub fn hit_params<'a>(
    limit: &[u8],
    window: &[u8],
    options: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Params, ArgError> {
    let limit = count(limit).ok_or(ArgError::Limit)?;
    let window = duration(window).ok_or(ArgError::Window)?;
    let mut cost = None;
    let mut options = options.into_iter();
    while let Some(name) = options.next() {
        let Some(value) = options.next() else {
            return Err(missing_or_unknown(name));
        };
        if name.eq_ignore_ascii_case(b"COST") {
            set_once(&mut cost, "COST", count(value).ok_or(ArgError::Cost)?)?;
        } else {
            return Err(unknown(name));
        }
    }
    Ok(Params {
        limit,
        window,
        cost: cost.unwrap_or(1),
    })
}

fn set_once<T>(slot: &mut Option<T>, name: &'static str, value: T) -> Result<(), ArgError> {
    if slot.replace(value).is_some() {
        return Err(ArgError::Repeated(name));
    }
    Ok(())
}

/// The option's name when it is known but lacks its value; an unknown-option error otherwise.
fn missing_or_unknown(name: &[u8]) -> ArgError {
    if name.eq_ignore_ascii_case(b"COST") {
        ArgError::MissingValue("COST")
    } else {
        unknown(name)
    }
}

fn unknown(name: &[u8]) -> ArgError {
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
    ArgError::UnknownOption(shown)
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
    let window = Micros(ms.checked_mul(1000)?);
    (MIN_WINDOW..=MAX_WINDOW)
        .contains(&window)
        .then_some(window)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(limit: &str, window: &str, options: &[&str]) -> Result<Params, ArgError> {
        hit_params(
            limit.as_bytes(),
            window.as_bytes(),
            options.iter().map(|o| o.as_bytes()),
        )
    }

    #[test]
    fn integers_follow_redis_syntax() {
        assert_eq!(integer(b"0"), Some(0));
        assert_eq!(integer(b"42"), Some(42));
        assert_eq!(integer(b"18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "-1",
            "+1",
            " 5",
            "5 ",
            "05",
            "1e3",
            "1.0",
            "0x10",
            "18446744073709551616",
            "99999999999999999999999",
        ] {
            assert_eq!(integer(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(duration(b"60"), Some(Micros::from_millis(60_000)));
        assert_eq!(duration(b"1500ms"), Some(Micros::from_millis(1_500)));
        assert_eq!(duration(b"10s"), Some(Micros::from_millis(10_000)));
        assert_eq!(duration(b"5m"), Some(Micros::from_millis(300_000)));
        assert_eq!(duration(b"1H"), Some(Micros::from_millis(3_600_000)));
        assert_eq!(duration(b"1d"), Some(Micros::from_millis(86_400_000)));
        assert_eq!(duration(b"1ms"), Some(MIN_WINDOW));
        assert_eq!(duration(b"36500d"), Some(MAX_WINDOW));
        assert_eq!(duration(b"365d"), Some(Micros::from_millis(31_536_000_000)));
        for bad in [
            "0",
            "0ms",
            "-1",
            "10x",
            "ms",
            "1.5s",
            " 1s",
            "1 s",
            "36501d",
            "99999999999999999999d",
            "18446744073709551615ms",
            "",
        ] {
            assert_eq!(duration(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn hit_parameters_and_their_errors() {
        assert_eq!(
            hit("10", "60", &[]),
            Ok(Params {
                limit: 10,
                window: Micros::from_millis(60_000),
                cost: 1
            })
        );
        assert_eq!(hit("10", "1s", &["cost", "3"]).map(|p| p.cost), Ok(3));
        assert_eq!(hit("0", "60", &[]), Err(ArgError::Limit));
        assert_eq!(hit("9223372036854775808", "60", &[]), Err(ArgError::Limit));
        assert_eq!(hit("10", "0", &[]), Err(ArgError::Window));
        assert_eq!(hit("10", "60", &["COST", "0"]), Err(ArgError::Cost));
        assert_eq!(
            hit("10", "60", &["COST"]),
            Err(ArgError::MissingValue("COST"))
        );
        assert_eq!(
            hit("10", "60", &["COST", "1", "COST", "2"]),
            Err(ArgError::Repeated("COST"))
        );
        assert_eq!(
            hit("10", "60", &["FOO", "1"]),
            Err(ArgError::UnknownOption("FOO".into()))
        );
        assert_eq!(
            hit("10", "60", &["\r\nX"]),
            Err(ArgError::UnknownOption("??X".into()))
        );
    }

    #[test]
    fn messages_name_the_argument() {
        assert!(ArgError::Limit.message().starts_with("ERR limit "));
        assert!(ArgError::Window.message().starts_with("ERR window "));
        assert!(ArgError::Cost.message().starts_with("ERR COST "));
        assert!(ArgError::UnknownOption("X".into())
            .message()
            .contains("'X'"));
    }
}
