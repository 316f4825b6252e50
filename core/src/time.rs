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
pub struct Micros(u64);

impl Micros {
    pub const ZERO: Micros = Micros(0);

    pub const fn from_micros(us: u64) -> Micros {
        Micros(us)
    }

    /// Saturates: no millisecond count a client can send overflows.
    pub const fn from_millis(ms: u64) -> Micros {
        Micros(ms.saturating_mul(1000))
    }

    pub const fn as_micros(self) -> u64 {
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

    /// A wide span back in 64 bits, saturating: spans the limiter computes are bounded by a
    /// bucket's drain time, which fits.
    pub fn from_wide(us: u128) -> Micros {
        Micros(u64::try_from(us).unwrap_or(u64::MAX))
    }

    /// Whole windows and the rest: `(self / window, self % window)`, for a non-zero window.
    pub const fn div_rem(self, window: Micros) -> (u64, Micros) {
        match window.0 {
            0 => (0, self),
            w => (self.0 / w, Micros(self.0 % w)),
        }
    }

    /// `self` times `n`, saturating.
    pub const fn times(self, n: u64) -> Micros {
        Micros(self.0.saturating_mul(n))
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
