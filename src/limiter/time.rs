//! Time as an integer count of microseconds.
//!
//! One type serves for instants (µs since the Unix epoch) and for spans. Microseconds give the
//! sliding window sub-millisecond resolution while replies stay in whole milliseconds, rounded
//! up, so a client that waits the reported time is never early.
//!
//! The arithmetic saturates instead of wrapping or panicking: every value the limiter handles
//! is bounded far below `u64::MAX` (instants by `MAX_INSTANT`, spans by a few `MAX_WINDOW`s), so
//! saturation never happens on valid input, and invalid input cannot take the server down.

use std::ops::{Add, Sub};

/// Microseconds: an instant since the Unix epoch, or a span.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Micros(pub u64);

impl Micros {
    pub const ZERO: Micros = Micros(0);

    pub const fn from_millis(ms: u64) -> Micros {
        Micros(ms * 1000)
    }

    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// Whole milliseconds, rounded up: waiting this long is never too short.
    pub const fn ceil_millis(self) -> u64 {
        self.0.div_ceil(1000)
    }

    pub const fn saturating_sub(self, other: Micros) -> Micros {
        Micros(self.0.saturating_sub(other.0))
    }

    /// The value as a wide integer, for products that may exceed 64 bits.
    pub const fn wide(self) -> u128 {
        self.0 as u128
    }
}

impl Add for Micros {
    type Output = Micros;

    fn add(self, other: Micros) -> Micros {
        Micros(self.0.saturating_add(other.0))
    }
}

impl Sub for Micros {
    type Output = Micros;

    /// Saturates at zero: a span is never negative.
    fn sub(self, other: Micros) -> Micros {
        self.saturating_sub(other)
    }
}
