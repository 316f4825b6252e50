//! How a state is laid out in memory, inside a key.
//!
//! A key's value costs the server 32 bytes of its own (an object and a module value) plus
//! whatever the module allocates. The full `State` takes 56 bytes; most states fit in 24, and
//! those that do are kept in that form:
//!
//! | engine  | compact form (192 bits)                                                         |
//! |---------|---------------------------------------------------------------------------------|
//! | sliding | as_of µs (52) · window ms (32) · into µs (42) · current (33) · previous (33)      |
//! | fixed   | as_of µs (52) · window ms (32) · into µs (42) · count (64)                        |
//! | bucket  | as_of µs (52) · window ms (32) · drain µs (44) · limit (21) · burst (21) · frac (21) |
//!
//! Instants below 2^52 µs run to the year 2112; windows of whole milliseconds up to 49 days
//! (so `into`, shorter than the window, always fits); a bucket that drains within 203 days;
//! counts and rates as wide as shown. Anything else is kept whole.
//!
//! The value pointer says which form it points to in its low bits (allocations are 8-byte
//! aligned): 0 for a whole `State`, 1 to 3 for a compact sliding, fixed or bucket state.

use std::ffi::c_void;

use crate::limiter::bucket::Bucket;
use crate::limiter::fixed::Fixed;
use crate::limiter::sliding::Sliding;
use crate::limiter::{Micros, State};

type Compact = [u64; 3];

const TAG_MASK: usize = 0b11;
const WHOLE: usize = 0;
const SLIDING: usize = 1;
const FIXED: usize = 2;
const BUCKET: usize = 3;

/// Packs `state` into a new allocation, returning the tagged pointer the key holds.
pub fn pack(state: &State) -> *mut c_void {
    match compact(state) {
        Some((tag, words)) => tagged(Box::into_raw(Box::new(words)).cast(), tag),
        None => Box::into_raw(Box::new(*state)).cast(),
    }
}

/// The state a pointer made by `pack` holds.
///
/// # Safety
/// `ptr` comes from `pack` (or `repack`) and was not freed.
pub unsafe fn unpack(ptr: *const c_void) -> State {
    let (tag, raw) = untagged(ptr);
    match tag {
        WHOLE => unsafe { *raw.cast::<State>() },
        _ => expand(tag, unsafe { *raw.cast::<Compact>() }),
    }
}

/// Stores `state` in the allocation behind `ptr` when it takes the same form; otherwise packs
/// it anew and returns the new pointer, the old one being the caller's to free.
///
/// # Safety
/// As for `unpack`, and nothing else reads the allocation meanwhile.
pub unsafe fn repack(ptr: *mut c_void, state: &State) -> Option<*mut c_void> {
    let (tag, raw) = untagged(ptr);
    match (tag, compact(state)) {
        (WHOLE, None) => unsafe { *raw.cast::<State>() = *state },
        (old, Some((new, words))) if old == new => unsafe { *raw.cast::<Compact>() = words },
        _ => return Some(pack(state)),
    }
    None
}

/// Frees what `pack` allocated.
///
/// # Safety
/// As for `unpack`; `ptr` is not used afterwards.
pub unsafe fn free(ptr: *mut c_void) {
    let (tag, raw) = untagged(ptr);
    match tag {
        WHOLE => drop(unsafe { Box::from_raw(raw.cast::<State>()) }),
        _ => drop(unsafe { Box::from_raw(raw.cast::<Compact>()) }),
    }
}

/// Bytes allocated for the state behind `ptr`.
pub fn size(ptr: *const c_void) -> usize {
    match untagged(ptr).0 {
        WHOLE => std::mem::size_of::<State>(),
        _ => std::mem::size_of::<Compact>(),
    }
}

fn tagged(ptr: *mut c_void, tag: usize) -> *mut c_void {
    ptr.map_addr(|a| a | tag)
}

fn untagged(ptr: *const c_void) -> (usize, *mut c_void) {
    (
        ptr.addr() & TAG_MASK,
        ptr.map_addr(|a| a & !TAG_MASK).cast_mut(),
    )
}

/// Fields laid end to end in 192 bits, lowest first.
struct Bits {
    words: Compact,
    used: u32,
}

impl Bits {
    fn new() -> Bits {
        Bits {
            words: [0; 3],
            used: 0,
        }
    }

    /// Appends `field` in `width` bits (at most 64); `None` when it does not fit.
    fn put(mut self, field: u64, width: u32) -> Option<Bits> {
        if width < 64 && field >> width != 0 {
            return None;
        }
        let (word, shift) = ((self.used / 64) as usize, self.used % 64);
        *self.words.get_mut(word)? |= field << shift;
        if shift + width > 64 {
            *self.words.get_mut(word + 1)? |= field >> (64 - shift);
        }
        self.used += width;
        Some(self)
    }

    fn from_words(words: Compact) -> Bits {
        Bits { words, used: 0 }
    }

    fn take(&mut self, width: u32) -> u64 {
        let (word, shift) = ((self.used / 64) as usize, self.used % 64);
        let low = self.words.get(word).map_or(0, |w| w >> shift);
        let high = if shift + width > 64 && shift > 0 {
            self.words.get(word + 1).map_or(0, |w| w << (64 - shift))
        } else {
            0
        };
        self.used += width;
        let mask = if width == 64 {
            u64::MAX
        } else {
            (1 << width) - 1
        };
        (low | high) & mask
    }
}

const INSTANT: u32 = 52;
const WINDOW_MS: u32 = 32;
const INTO: u32 = 42;

/// A window in whole milliseconds, if it is one.
fn window_ms(window: Micros) -> Option<u64> {
    (window.0 % 1000 == 0).then_some(window.0 / 1000)
}

/// The compact form of `state`, with its tag, when it has one.
fn compact(state: &State) -> Option<(usize, Compact)> {
    let bits = Bits::new();
    let (tag, bits) = match state {
        State::Sliding(s) => (
            SLIDING,
            bits.put(s.as_of.0, INSTANT)?
                .put(window_ms(s.window)?, WINDOW_MS)?
                .put(s.into.0, INTO)?
                .put(s.current, 33)?
                .put(s.previous, 33)?,
        ),
        State::Fixed(s) => (
            FIXED,
            bits.put(s.as_of.0, INSTANT)?
                .put(window_ms(s.window)?, WINDOW_MS)?
                .put(s.into.0, INTO)?
                .put(s.count, 64)?,
        ),
        State::Bucket(s) => (
            BUCKET,
            bits.put(s.as_of.0, INSTANT)?
                .put(window_ms(s.window)?, WINDOW_MS)?
                .put(s.drain.0, 44)?
                .put(s.limit, 21)?
                .put(s.burst, 21)?
                .put(s.frac, 21)?,
        ),
    };
    Some((tag, bits.words))
}

fn expand(tag: usize, words: Compact) -> State {
    let mut bits = Bits::from_words(words);
    let as_of = Micros(bits.take(INSTANT));
    let window = Micros(bits.take(WINDOW_MS) * 1000);
    match tag {
        SLIDING => State::Sliding(Sliding {
            as_of,
            window,
            into: Micros(bits.take(INTO)),
            current: bits.take(33),
            previous: bits.take(33),
        }),
        FIXED => State::Fixed(Fixed {
            as_of,
            window,
            into: Micros(bits.take(INTO)),
            count: bits.take(64),
        }),
        _ => State::Bucket(Bucket {
            as_of,
            window,
            drain: Micros(bits.take(44)),
            limit: bits.take(21),
            burst: bits.take(21),
            frac: bits.take(21),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limiter::tests::strategies::valid_state;
    use proptest::prelude::*;

    #[test]
    fn a_typical_state_takes_twenty_four_bytes() {
        let s = State::Sliding(Sliding {
            window: Micros::from_millis(60_000),
            as_of: Micros(1_795_000_000_000_000),
            into: Micros(12_345_678),
            current: 7,
            previous: 100,
        });
        let ptr = pack(&s);
        assert_eq!(size(ptr), 24);
        // SAFETY: `ptr` comes from `pack` and is freed once.
        unsafe {
            assert_eq!(unpack(ptr), s);
            free(ptr);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn every_state_comes_back_as_it_went_in(s in valid_state(), t in valid_state()) {
            let ptr = pack(&s);
            // SAFETY: every pointer comes from `pack` or `repack` and is freed once.
            unsafe {
                prop_assert_eq!(unpack(ptr), s);
                // Overwriting keeps the allocation when the form is the same.
                let ptr = match repack(ptr, &t) {
                    Some(new) => {
                        free(ptr);
                        new
                    }
                    None => ptr,
                };
                prop_assert_eq!(unpack(ptr), t);
                prop_assert!(size(ptr) == 24 || size(ptr) == std::mem::size_of::<State>());
                free(ptr);
            }
        }
    }
}
