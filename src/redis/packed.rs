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
//! An ALGO LOG key holds its log (`rl_core::Log`), which keeps its entries in a compact form of
//! its own and is changed in place.
//!
//! The value pointer says which form it points to in its low bits (allocations are 8-byte
//! aligned): 0 for a whole `State`, 1 to 3 for a compact sliding, fixed or bucket state, 4 for
//! a log.

use std::ffi::c_void;

use rl_core::engines::bucket::Bucket;
use rl_core::engines::fixed::Fixed;
use rl_core::engines::sliding::Sliding;
use rl_core::{Held, Log, Micros, State, Value};

type Compact = [u64; 3];

const TAG_MASK: usize = 0b111;
const WHOLE: usize = 0;
const SLIDING: usize = 1;
const FIXED: usize = 2;
const BUCKET: usize = 3;
const LOG: usize = 4;

/// The widths of each compact form's fields, lowest bits first: the one place they are
/// written. Instants in µs, windows in whole ms.
const SLIDING_LAYOUT: [u32; 5] = [52, 32, 42, 33, 33]; // as_of, window, into, current, previous
const FIXED_LAYOUT: [u32; 4] = [52, 32, 42, 64]; // as_of, window, into, count
const BUCKET_LAYOUT: [u32; 6] = [52, 32, 44, 21, 21, 21]; // as_of, window, drain, limit, burst, frac

/// Packs `state` into a new allocation, returning the tagged pointer the key holds.
pub fn pack(state: &State) -> *mut c_void {
    match compact(state) {
        Some((tag, words)) => tagged(Box::into_raw(Box::new(words)).cast(), tag),
        None => Box::into_raw(Box::new(*state)).cast(),
    }
}

/// Moves `log` into a new allocation, returning the tagged pointer the key holds.
pub fn pack_log(log: Log) -> *mut c_void {
    tagged(Box::into_raw(Box::new(log)).cast(), LOG)
}

/// Packs any value.
pub fn pack_value(value: Value) -> *mut c_void {
    match value {
        Value::State(state) => pack(&state),
        Value::Log(log) => pack_log(log),
    }
}

/// What a pointer made by `pack` or `pack_log` holds: a state by value, a log by reference.
///
/// # Safety
/// `ptr` comes from `pack`, `pack_log` or `repack`, was not freed, and outlives 'a.
pub unsafe fn held<'a>(ptr: *const c_void) -> Held<'a> {
    let (tag, raw) = untagged(ptr);
    match tag {
        // SAFETY: tag 0 marks a whole `State`, as `pack` allocated it.
        WHOLE => Held::State(unsafe { *raw.cast::<State>() }),
        // SAFETY: tag 4 marks a boxed log, alive for 'a as the caller promises.
        LOG => Held::Log(unsafe { &*raw.cast::<Log>() }),
        // SAFETY: the other tags mark a compact form, as `pack` allocated it.
        _ => Held::State(expand(tag, unsafe { *raw.cast::<Compact>() })),
    }
}

/// The log behind `ptr`, to change in place; `None` when it holds a state.
///
/// # Safety
/// As for `held`, and nothing else reads the allocation meanwhile.
pub unsafe fn log_mut<'a>(ptr: *mut c_void) -> Option<&'a mut Log> {
    let (tag, raw) = untagged(ptr);
    // SAFETY: tag 4 marks a boxed log, which the caller may change alone.
    (tag == LOG).then(|| unsafe { &mut *raw.cast::<Log>() })
}

/// Stores `state` in the allocation behind `ptr` when it takes the same form; otherwise packs
/// it anew and returns the new pointer, the old one being the caller's to free.
///
/// # Safety
/// As for `held`, and nothing else reads the allocation meanwhile.
pub unsafe fn repack(ptr: *mut c_void, state: &State) -> Option<*mut c_void> {
    let (tag, raw) = untagged(ptr);
    match (tag, compact(state)) {
        // SAFETY: the allocation holds the form its tag says, and is ours to write.
        (WHOLE, None) => unsafe { *raw.cast::<State>() = *state },
        // SAFETY: as above, a compact form of the same kind.
        (old, Some((new, words))) if old == new && old != LOG => unsafe {
            *raw.cast::<Compact>() = words
        },
        _ => return Some(pack(state)),
    }
    None
}

/// Frees what `pack` allocated.
///
/// # Safety
/// As for `held`; `ptr` is not used afterwards.
pub unsafe fn free(ptr: *mut c_void) {
    let (tag, raw) = untagged(ptr);
    match tag {
        // SAFETY: the allocation `pack` made for this form, freed once.
        WHOLE => drop(unsafe { Box::from_raw(raw.cast::<State>()) }),
        // SAFETY: as above, `pack_log`'s.
        LOG => drop(unsafe { Box::from_raw(raw.cast::<Log>()) }),
        // SAFETY: as above.
        _ => drop(unsafe { Box::from_raw(raw.cast::<Compact>()) }),
    }
}

/// Bytes allocated for the value behind `ptr`.
///
/// # Safety
/// As for `held`.
pub unsafe fn size(ptr: *const c_void) -> usize {
    match untagged(ptr).0 {
        WHOLE => std::mem::size_of::<State>(),
        // SAFETY: as the caller promises.
        LOG => match unsafe { held(ptr) } {
            Held::Log(log) => std::mem::size_of::<Log>() + log.capacity(),
            Held::State(_) => 0,
        },
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

/// `fields` laid end to end in 192 bits, lowest first, each in its width; `None` when one does
/// not fit.
fn put<const N: usize>(layout: &[u32; N], fields: [u64; N]) -> Option<Compact> {
    let mut words = [0u64; 3];
    let mut at = 0u32;
    for (&width, field) in layout.iter().zip(fields) {
        if width < 64 && field >> width != 0 {
            return None;
        }
        let (word, shift) = ((at / 64) as usize, at % 64);
        *words.get_mut(word)? |= field << shift;
        if shift + width > 64 {
            *words.get_mut(word + 1)? |= field >> (64 - shift);
        }
        at += width;
    }
    Some(words)
}

/// The fields `put` laid out.
fn take<const N: usize>(layout: &[u32; N], words: Compact) -> [u64; N] {
    let mut fields = [0u64; N];
    let mut at = 0u32;
    for (&width, field) in layout.iter().zip(fields.iter_mut()) {
        let (word, shift) = ((at / 64) as usize, at % 64);
        let low = words.get(word).map_or(0, |w| w >> shift);
        let high = match shift {
            0 => 0,
            _ if shift + width > 64 => words.get(word + 1).map_or(0, |w| w << (64 - shift)),
            _ => 0,
        };
        let mask = if width == 64 {
            u64::MAX
        } else {
            (1 << width) - 1
        };
        *field = (low | high) & mask;
        at += width;
    }
    fields
}

/// A window in whole milliseconds, if it is one.
fn window_ms(window: Micros) -> Option<u64> {
    let us = window.as_micros();
    (us % 1000 == 0).then_some(us / 1000)
}

/// The compact form of `state`, with its tag, when it has one.
fn compact(state: &State) -> Option<(usize, Compact)> {
    match state {
        State::Sliding(s) => {
            let fields = [
                s.as_of.as_micros(),
                window_ms(s.window)?,
                s.into.as_micros(),
                s.current,
                s.previous,
            ];
            Some((SLIDING, put(&SLIDING_LAYOUT, fields)?))
        }
        State::Fixed(s) => {
            let fields = [
                s.as_of.as_micros(),
                window_ms(s.window)?,
                s.into.as_micros(),
                s.count,
            ];
            Some((FIXED, put(&FIXED_LAYOUT, fields)?))
        }
        State::Bucket(s) => {
            let fields = [
                s.as_of.as_micros(),
                window_ms(s.window)?,
                s.drain.as_micros(),
                s.limit,
                s.burst,
                s.frac,
            ];
            Some((BUCKET, put(&BUCKET_LAYOUT, fields)?))
        }
    }
}

fn expand(tag: usize, words: Compact) -> State {
    let micros = Micros::from_micros;
    match tag {
        SLIDING => {
            let [as_of, window_ms, into, current, previous] = take(&SLIDING_LAYOUT, words);
            State::Sliding(Sliding {
                as_of: micros(as_of),
                window: Micros::from_millis(window_ms),
                into: micros(into),
                current,
                previous,
            })
        }
        FIXED => {
            let [as_of, window_ms, into, count] = take(&FIXED_LAYOUT, words);
            State::Fixed(Fixed {
                as_of: micros(as_of),
                window: Micros::from_millis(window_ms),
                into: micros(into),
                count,
            })
        }
        _ => {
            let [as_of, window_ms, drain, limit, burst, frac] = take(&BUCKET_LAYOUT, words);
            State::Bucket(Bucket {
                as_of: micros(as_of),
                window: Micros::from_millis(window_ms),
                drain: micros(drain),
                limit,
                burst,
                frac,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rl_core::strategies::valid_state;

    /// The state behind a pointer `pack` made.
    unsafe fn unpack(ptr: *const c_void) -> State {
        // SAFETY: as the caller promises.
        match unsafe { held(ptr) } {
            Held::State(s) => s,
            Held::Log(_) => panic!("a log, not a state"),
        }
    }

    #[test]
    fn a_typical_state_takes_twenty_four_bytes() {
        let s = State::Sliding(Sliding {
            window: Micros::from_millis(60_000),
            as_of: Micros::from_micros(1_795_000_000_000_000),
            into: Micros::from_micros(12_345_678),
            current: 7,
            previous: 100,
        });
        let ptr = pack(&s);
        // SAFETY: `ptr` comes from `pack`.
        assert_eq!(unsafe { size(ptr) }, 24);
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
                let size = size(ptr);
                prop_assert!(size == 24 || size == std::mem::size_of::<State>());
                free(ptr);
            }
        }
    }
}
