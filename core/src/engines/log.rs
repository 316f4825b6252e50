//! ALGO LOG: an exact rolling window.
//!
//! A request of `cost` units is admitted iff the units admitted in the last `window`, plus
//! `cost`, are at most `limit`. Time has millisecond resolution here: a request admitted
//! during millisecond `t` counts at every instant of milliseconds `t` to `t + window - 1`, and
//! no longer from `t + window` on (an entry exactly a window old no longer counts).
//!
//! The log keeps one entry per millisecond in which requests were admitted (entries of the
//! same millisecond are merged), oldest first, in a ring of bytes: each entry is a varint of
//! its distance in milliseconds from the entry before it, shifted left by one with the low bit
//! set when its cost is 1; other costs follow as a varint. A request costing 1 within 64 ms of
//! the previous one takes one byte. Entries leave from the front as they age out and arrive at
//! the back, so a request costs O(1) amortised whatever the length of the log; only finding
//! when a denied request could be admitted walks as many entries as it needs to free.
//!
//! Like every state, the log is dated (`as_of`): read at an earlier instant than its own, it
//! reads as it stood then, every entry moved back by the same amount.

use std::collections::VecDeque;

use crate::{Decision, Micros, Params, Retry, MAX_INSTANT, MAX_LIMIT, MAX_WINDOW, MIN_WINDOW};

/// The most entries a valid log may hold, whatever `rl.log-max-entries` allows: a bound for
/// the decoder of data from anywhere.
pub const MAX_ENTRIES: u64 = 1 << 24;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Log {
    /// Length of the window, in whole milliseconds.
    window_ms: i64,
    /// The instant of the decision that wrote this state.
    as_of: Micros,
    /// The time (ms) of the oldest entry, whose distance is 0.
    base_ms: i64,
    /// Units held: the sum of the entries' costs.
    total: u64,
    /// Entries held.
    count: u64,
    /// The newest entry, kept to merge a request of the same millisecond into it.
    last: Entry,
    /// Its encoded length in bytes.
    last_len: usize,
    bytes: VecDeque<u8>,
}

/// One entry: its distance from the entry before it (ms), its time (ms) and its units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Entry {
    delta: u64,
    ms: i64,
    cost: u64,
}

/// What a decision changes in a log, applied in place (see `Log::apply`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogEdit {
    /// The instant of the decision: the log's new `as_of`.
    pub at: Micros,
    /// Milliseconds every entry moves back by (the clock stood behind the log's date).
    pub shift_ms: u64,
    /// Entries that aged out, removed from the front.
    pub expired: u64,
    /// Units admitted at `at`, 0 for none.
    pub added: u64,
}

/// A log as read at some instant: moved back by `shift_ms` when the clock stands behind its
/// date.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    pub log: &'a Log,
    pub shift_ms: u64,
}

/// Why a log is not valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFault {
    Window,
    AsOf,
    Entries,
    Empty,
    Total,
    Order,
    OutsideWindow,
    /// A change to a log, for a key that holds none.
    NotALog,
}

impl std::fmt::Display for LogFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LogFault::Window => "the log's window is not a whole number of ms from 1ms to 36500d",
            LogFault::AsOf => "its instant is later than the year 4253",
            LogFault::Entries => "the log's entries do not decode",
            LogFault::Empty => "the log holds no entry (such a key is deleted, not stored)",
            LogFault::Total => "the log holds more than 9223372036854775807 units",
            LogFault::Order => "the log's entries are not in time order, one per millisecond",
            LogFault::OutsideWindow => "the log holds entries outside its window",
            LogFault::NotALog => "the key holds no log to change",
        })
    }
}

fn now_ms(now: Micros) -> i64 {
    (now.as_micros() / 1000) as i64
}

impl Log {
    /// An empty log of this window, dated `now`.
    pub fn new(window: Micros, now: Micros) -> Log {
        Log {
            window_ms: (window.as_micros() / 1000) as i64,
            as_of: now,
            base_ms: now_ms(now),
            total: 0,
            count: 0,
            last: Entry::default(),
            last_len: 0,
            bytes: VecDeque::new(),
        }
    }

    /// A log of this window holding `used` units admitted at `now`: what another algorithm's
    /// usage becomes when a key turns to ALGO LOG.
    pub fn seeded(window: Micros, used: u64, now: Micros) -> Log {
        let mut log = Log::new(window, now);
        log.push(now_ms(now), used);
        log
    }

    pub fn window(&self) -> Micros {
        Micros::from_millis(self.window_ms as u64)
    }

    pub fn as_of(&self) -> Micros {
        self.as_of
    }

    /// Entries held.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Units held.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The entries and units `edit` would leave, or `None` when it does not fit this log (it
    /// expires more entries than the log holds).
    pub fn after(&self, edit: &LogEdit) -> Option<(u64, u64)> {
        let kept = self.count.checked_sub(edit.expired)?;
        let freed: u64 = self
            .entries()
            .take(usize::try_from(edit.expired).ok()?)
            .map(|(_, cost)| cost)
            .sum();
        let total = (self.total - freed).checked_add(edit.added)?;
        let merged = kept > 0 && self.last.ms - edit.shift_ms as i64 == now_ms(edit.at);
        let count = kept + u64::from(edit.added > 0 && !merged);
        Some((count, total))
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes the entries take.
    pub fn encoded_len(&self) -> usize {
        self.bytes.len()
    }

    /// Bytes allocated for the entries.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// When the newest entry ages out: the log carries nothing from then on.
    pub fn expires_at(&self) -> Option<Micros> {
        (self.count > 0).then(|| ms_instant(self.last.ms + self.window_ms))
    }

    /// The entries, oldest first, as (time in ms, units).
    pub fn entries(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        let mut at = 0;
        let mut ms = self.base_ms;
        std::iter::from_fn(move || {
            let (entry, len) = decode_entry(&self.bytes, at, ms)?;
            at += len;
            ms = entry.ms;
            Some((entry.ms, entry.cost))
        })
    }

    /// The bytes of the entries, for the byte form.
    pub fn entry_bytes(&self) -> (&[u8], &[u8]) {
        self.bytes.as_slices()
    }

    pub fn base_ms(&self) -> i64 {
        self.base_ms
    }

    /// A log from its byte form's parts, checked in full.
    pub fn from_parts(
        window: Micros,
        as_of: Micros,
        base_ms: i64,
        count: u64,
        bytes: &[u8],
    ) -> Result<Log, LogFault> {
        let whole_ms = window.as_micros() % 1000 == 0;
        if !(MIN_WINDOW..=MAX_WINDOW).contains(&window) || !whole_ms {
            return Err(LogFault::Window);
        }
        if as_of > MAX_INSTANT {
            return Err(LogFault::AsOf);
        }
        if count == 0 {
            return Err(LogFault::Empty);
        }
        if count > MAX_ENTRIES || bytes.len() as u64 > MAX_ENTRIES * 20 {
            return Err(LogFault::Entries);
        }
        // Every entry lies within the window ending at the log's date, the oldest included.
        let window_ms = (window.as_micros() / 1000) as i64;
        if base_ms <= now_ms(as_of) - window_ms || base_ms > now_ms(as_of) {
            return Err(LogFault::OutsideWindow);
        }
        let mut log = Log::new(window, as_of);
        log.base_ms = base_ms;
        log.bytes = bytes.iter().copied().collect();
        let (mut at, mut ms, mut seen) = (0, base_ms, 0u64);
        while at < log.bytes.len() {
            let (entry, len) = decode_entry(&log.bytes, at, ms).ok_or(LogFault::Entries)?;
            // The oldest entry is the base; each later one at least a millisecond after.
            if entry.cost == 0 || (seen == 0) != (entry.delta == 0) {
                return Err(LogFault::Order);
            }
            log.total = log
                .total
                .checked_add(entry.cost)
                .filter(|t| *t <= MAX_LIMIT)
                .ok_or(LogFault::Total)?;
            seen += 1;
            at += len;
            ms = entry.ms;
            log.last = entry;
            log.last_len = len;
        }
        log.count = seen;
        if seen != count {
            return Err(LogFault::Entries);
        }
        if log.last.ms > now_ms(as_of) {
            return Err(LogFault::OutsideWindow);
        }
        Ok(log)
    }

    /// Checks what a write can change, in O(1): the rest holds by construction (and the
    /// decoder checks it all). Empty logs are deleted, not stored.
    pub fn check_write(&self) -> Result<(), LogFault> {
        if self.count == 0 {
            return Err(LogFault::Empty);
        }
        if self.as_of > MAX_INSTANT {
            return Err(LogFault::AsOf);
        }
        if self.total > MAX_LIMIT || self.count > MAX_ENTRIES {
            return Err(LogFault::Total);
        }
        let date = now_ms(self.as_of);
        if self.last.ms > date || self.base_ms <= date - self.window_ms {
            return Err(LogFault::OutsideWindow);
        }
        Ok(())
    }

    /// The full rule, O(n): what the decoder checks.
    pub fn validate(&self) -> Result<(), LogFault> {
        let (front, back) = self.bytes.as_slices();
        let bytes: Vec<u8> = front.iter().chain(back).copied().collect();
        let rebuilt = Log::from_parts(self.window(), self.as_of, self.base_ms, self.count, &bytes)?;
        if rebuilt.total != self.total || rebuilt.last != self.last {
            return Err(LogFault::Entries);
        }
        Ok(())
    }

    /// The log read at `now`: moved back when the clock stands behind its date.
    pub fn view(&self, now: Micros) -> View<'_> {
        View {
            log: self,
            shift_ms: (now_ms(self.as_of) - now_ms(now)).max(0) as u64,
        }
    }

    /// Applies a decision's change in place.
    pub fn apply(&mut self, edit: &LogEdit) {
        if edit.shift_ms > 0 {
            let shift = edit.shift_ms as i64;
            self.base_ms -= shift;
            self.last.ms -= shift;
        }
        for _ in 0..edit.expired {
            self.pop_front();
        }
        if edit.added > 0 {
            self.push(now_ms(edit.at), edit.added);
        }
        self.as_of = edit.at;
        // Give back memory a long log no longer needs.
        if self.bytes.capacity() > 64 && self.bytes.len() < self.bytes.capacity() / 4 {
            self.bytes.shrink_to(self.bytes.len() * 2);
        }
    }

    fn pop_front(&mut self) {
        let Some((oldest, len)) = decode_entry(&self.bytes, 0, self.base_ms) else {
            return;
        };
        self.bytes.drain(..len);
        self.total -= oldest.cost;
        self.count -= 1;
        if self.count == 0 {
            self.last = Entry::default();
            self.last_len = 0;
            return;
        }
        // The next entry becomes the oldest: its distance becomes 0, so that the log's times
        // are always counted from an entry it holds.
        let Some((next, next_len)) = decode_entry(&self.bytes, 0, self.base_ms) else {
            return;
        };
        self.bytes.drain(..next_len);
        let mut header = VecDeque::new();
        encode_entry(&mut header, 0, next.cost);
        for byte in header.into_iter().rev() {
            self.bytes.push_front(byte);
        }
        self.base_ms = next.ms;
        if self.count == 1 {
            self.last = Entry { delta: 0, ..next };
            self.last_len = self.bytes.len();
        }
    }

    fn push(&mut self, ms: i64, cost: u64) {
        if self.count > 0 && ms == self.last.ms {
            // Merged into the entry of the same millisecond.
            let merged = Entry {
                cost: self.last.cost.saturating_add(cost),
                ..self.last
            };
            self.bytes.truncate(self.bytes.len() - self.last_len);
            self.total -= self.last.cost;
            self.count -= 1;
            self.append(merged);
            return;
        }
        if self.count == 0 {
            self.base_ms = ms;
            self.append(Entry { delta: 0, ms, cost });
            return;
        }
        let delta = (ms - self.last.ms).max(1) as u64;
        self.append(Entry {
            delta,
            ms: self.last.ms + delta as i64,
            cost,
        });
    }

    fn append(&mut self, entry: Entry) {
        let before = self.bytes.len();
        encode_entry(&mut self.bytes, entry.delta, entry.cost);
        self.last_len = self.bytes.len() - before;
        self.last = entry;
        self.total += entry.cost;
        self.count += 1;
    }
}

impl View<'_> {
    fn ms(&self, stored_ms: i64) -> i64 {
        stored_ms - self.shift_ms as i64
    }

    /// Units held at `now`: the entries younger than a window.
    pub fn used(&self, now: Micros) -> u64 {
        let cutoff = now_ms(now) - self.log.window_ms;
        let expired: u64 = self
            .log
            .entries()
            .take_while(|(ms, _)| self.ms(*ms) <= cutoff)
            .map(|(_, cost)| cost)
            .sum();
        self.log.total - expired
    }
}

/// Decides one request against a log of this window (`None`: a new key). Returns the
/// decision and, when the log changes (a request admitted, or a clock behind its date), the
/// change: to apply to the log, or for a new key to an empty log.
pub fn decide(view: Option<View>, params: &Params, now: Micros) -> (Decision, Option<LogEdit>) {
    let (limit, cost) = (params.limit, params.cost);
    let now_ms = now_ms(now);
    let cutoff = now_ms - params.window.as_micros() as i64 / 1000;
    let (mut expired, mut freed, mut used) = (0u64, 0u64, 0u64);
    let mut entries = view
        .into_iter()
        .flat_map(|v| v.log.entries().map(move |(ms, cost)| (v.ms(ms), cost)));
    // The entries that aged out, and what is left.
    let mut first_kept = None;
    for (ms, units) in entries.by_ref() {
        if ms > cutoff {
            first_kept = Some((ms, units));
            break;
        }
        expired += 1;
        freed += units;
    }
    if let Some(v) = view {
        used = v.log.total - freed;
    }
    let allowed = cost.checked_add(used).is_some_and(|t| t <= limit);
    let held_after = if allowed { used + cost } else { used };
    let retry_after = if allowed {
        Retry::Now
    } else if cost > limit {
        Retry::Never
    } else {
        // Walk the kept entries until enough of them have aged out.
        let need = used + cost - limit;
        let mut freed = 0u64;
        let mut at = now_ms;
        for (ms, units) in first_kept.into_iter().chain(entries) {
            freed += units;
            at = ms + params.window.as_micros() as i64 / 1000;
            if freed >= need {
                break;
            }
        }
        Retry::After(ms_instant(at) - now)
    };
    let newest = match (allowed && cost > 0, view) {
        (true, _) => Some(now_ms),
        (false, Some(v)) if held_after > 0 => Some(v.ms(v.log.last.ms)),
        _ => None,
    };
    let reset_after = newest.map_or(Micros::ZERO, |ms| {
        ms_instant(ms + params.window.as_micros() as i64 / 1000) - now
    });
    let decision = Decision {
        allowed,
        capacity: limit,
        remaining: limit.saturating_sub(held_after),
        retry_after,
        reset_after,
    };
    let shift_ms = view.map_or(0, |v| v.shift_ms);
    let added = if allowed { cost } else { 0 };
    let edit = (added > 0 || shift_ms > 0).then_some(LogEdit {
        at: now,
        shift_ms,
        expired: if added > 0 { expired } else { 0 },
        added,
    });
    (decision, edit)
}

/// The instant a millisecond begins, as microseconds (0 before 1970).
fn ms_instant(ms: i64) -> Micros {
    Micros::from_micros(u64::try_from(ms).unwrap_or(0).saturating_mul(1000))
}

fn encode_entry(out: &mut VecDeque<u8>, delta: u64, cost: u64) {
    let single = u64::from(cost == 1);
    push_varint(out, (delta << 1) | single);
    if cost != 1 {
        push_varint(out, cost);
    }
}

/// The entry starting at byte `at`, after the entry of time `previous_ms`, and its length.
fn decode_entry(bytes: &VecDeque<u8>, at: usize, previous_ms: i64) -> Option<(Entry, usize)> {
    let (head, head_len) = read_varint(bytes, at)?;
    let delta = head >> 1;
    let (cost, cost_len) = if head & 1 == 1 {
        (1, 0)
    } else {
        read_varint(bytes, at + head_len)?
    };
    let ms = previous_ms.checked_add(i64::try_from(delta).ok()?)?;
    Some((Entry { delta, ms, cost }, head_len + cost_len))
}

fn push_varint(out: &mut VecDeque<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push_back((value as u8) | 0x80);
        value >>= 7;
    }
    out.push_back(value as u8);
}

fn read_varint(bytes: &VecDeque<u8>, at: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for i in 0..10 {
        let byte = *bytes.get(at + i)?;
        let part = u64::from(byte & 0x7f);
        if i == 9 && part > 1 {
            return None; // beyond 64 bits
        }
        value |= part << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}
