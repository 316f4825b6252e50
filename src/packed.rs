//! How a state is laid out in memory, inside a key.
//!
//! A key's value costs the server 32 bytes of its own (an object and a module value) plus
//! whatever the module allocates. The full `State` takes 48 bytes; most states fit in 16, and
//! those that do are kept in that form:
//!
//! | engine  | compact form (128 bits)                                                   |
//! |---------|---------------------------------------------------------------------------|
//! | sliding | start µs (52) · window ms (32) · current (22) · previous (22)             |
//! | fixed   | start µs (52) · window ms (32) · count (44)                               |
//! | bucket  | TAT µs (52) · window ms (32) · limit (15) · burst (14) · TAT fraction (15) |
//!
//! Instants below 2^52 µs run to the year 2112; windows of whole milliseconds up to 49 days;
//! counts and limits as wide as shown. Anything else is kept whole.
//!
//! The value pointer says which form it points to in its low bits (allocations are 8-byte
//! aligned): 0 for a whole `State`, 1 to 3 for a compact sliding, fixed or bucket state.

use std::ffi::c_void;

use crate::limiter::bucket::Bucket;
use crate::limiter::fixed::Fixed;
use crate::limiter::sliding::Sliding;
use crate::limiter::{Micros, State};

type Compact = [u64; 2];

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

/// Fields laid end to end in 128 bits, lowest first.
struct Bits {
    value: u128,
    used: u32,
}

impl Bits {
    fn new() -> Bits {
        Bits { value: 0, used: 0 }
    }

    /// Appends `field` in `width` bits; `None` when it does not fit.
    fn put(mut self, field: u64, width: u32) -> Option<Bits> {
        if width < 64 && field >> width != 0 {
            return None;
        }
        self.value |= u128::from(field) << self.used;
        self.used += width;
        Some(self)
    }

    fn words(self) -> Compact {
        [self.value as u64, (self.value >> 64) as u64]
    }

    fn from_words(words: Compact) -> Bits {
        Bits {
            value: u128::from(words[0]) | (u128::from(words[1]) << 64),
            used: 0,
        }
    }

    fn take(&mut self, width: u32) -> u64 {
        let field = (self.value >> self.used) as u64 & ((1u64 << width) - 1);
        self.used += width;
        field
    }
}

const INSTANT: u32 = 52;
const WINDOW_MS: u32 = 32;

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
            bits.put(s.start.0, INSTANT)?
                .put(window_ms(s.window)?, WINDOW_MS)?
                .put(s.current, 22)?
                .put(s.previous, 22)?,
        ),
        State::Fixed(s) => (
            FIXED,
            bits.put(s.start.0, INSTANT)?
                .put(window_ms(s.window)?, WINDOW_MS)?
                .put(s.count, 44)?,
        ),
        State::Bucket(s) => (
            BUCKET,
            bits.put(s.tat.0, INSTANT)?
                .put(window_ms(s.window)?, WINDOW_MS)?
                .put(s.limit, 15)?
                .put(s.burst, 14)?
                .put(s.frac, 15)?,
        ),
    };
    Some((tag, bits.words()))
}

fn expand(tag: usize, words: Compact) -> State {
    let mut bits = Bits::from_words(words);
    let instant = Micros(bits.take(INSTANT));
    let window = Micros(bits.take(WINDOW_MS) * 1000);
    match tag {
        SLIDING => State::Sliding(Sliding {
            start: instant,
            window,
            current: bits.take(22),
            previous: bits.take(22),
        }),
        FIXED => State::Fixed(Fixed {
            start: instant,
            window,
            count: bits.take(44),
        }),
        _ => State::Bucket(Bucket {
            tat: instant,
            window,
            limit: bits.take(15),
            burst: bits.take(14),
            frac: bits.take(15),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;
    use proptest::prelude::*;

    /// Any state the codec accepts, small and large fields alike.
    fn state() -> impl Strategy<Value = State> {
        let field = |small: u64, big: u64| prop_oneof![0..=small, 0..=big];
        let bytes = (
            0u8..3,
            prop_oneof![
                1_000u64..=86_400_000_000,
                1_000u64..=crate::limiter::MAX_WINDOW.0
            ]
            .prop_map(|w| if w % 3 == 0 { w } else { w - w % 1000 }),
            field(1 << 53, crate::limiter::MAX_INSTANT.0),
            field(1 << 23, crate::limiter::MAX_LIMIT),
            field(1 << 23, crate::limiter::MAX_LIMIT),
            field(1 << 16, 1 << 40),
        )
            .prop_map(|(kind, window, instant, a, b, c)| {
                let window = Micros(window.max(1_000));
                match kind {
                    0 => State::Sliding(Sliding {
                        window,
                        start: Micros(instant),
                        current: a,
                        previous: b,
                    }),
                    1 => State::Fixed(Fixed {
                        window,
                        start: Micros(instant),
                        count: a,
                    }),
                    _ => {
                        let limit = c.max(1);
                        State::Bucket(Bucket {
                            window,
                            limit,
                            burst: (a % limit).max(1),
                            tat: Micros(instant),
                            frac: b % limit,
                        })
                    }
                }
            });
        bytes.prop_filter("valid", |s| {
            codec::decode(codec::encode(s).as_bytes()).is_ok()
        })
    }

    #[test]
    fn a_typical_state_takes_sixteen_bytes() {
        let s = State::Sliding(Sliding {
            window: Micros::from_millis(60_000),
            start: Micros(1_795_000_000_000_000),
            current: 7,
            previous: 100,
        });
        let ptr = pack(&s);
        assert_eq!(size(ptr), 16);
        assert_eq!(unsafe { unpack(ptr) }, s);
        unsafe { free(ptr) };
    }

    proptest! {
        #[test]
        fn every_state_comes_back_as_it_went_in(s in state(), t in state()) {
            let ptr = pack(&s);
            prop_assert_eq!(unsafe { unpack(ptr) }, s);
            // Overwriting keeps the allocation when the form is the same.
            let ptr = match unsafe { repack(ptr, &t) } {
                Some(new) => {
                    unsafe { free(ptr) };
                    new
                }
                None => ptr,
            };
            prop_assert_eq!(unsafe { unpack(ptr) }, t);
            prop_assert!(size(ptr) == 16 || size(ptr) == std::mem::size_of::<State>());
            unsafe { free(ptr) };
        }
    }
}
