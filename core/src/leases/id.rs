//! Lease ids: the client's own (1 to 64 bytes, any bytes), or made by the server.
//!
//! A server-made id is 16 lowercase hex digits: a per-process counter added to a seed and
//! passed through a bijective mixer. Within one process two ids are never equal (the counter
//! never repeats and the mixer loses nothing); across processes (a restart, a failover to
//! another server) the seeds differ, being drawn from the OS's randomness, the clock and the
//! process id at load, so two ids meet by chance only, about once in 2^64 pairs. The module
//! also never hands out an id that the key holds already.

use std::fmt;

/// The longest id a client may give.
pub const MAX_ID_LEN: usize = 64;

/// A lease id of 1 to 64 bytes, kept inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct LeaseId {
    len: u8,
    bytes: [u8; MAX_ID_LEN],
}

impl LeaseId {
    /// The id of these bytes, if they are 1 to 64 of them.
    pub fn new(bytes: &[u8]) -> Option<LeaseId> {
        if !(1..=MAX_ID_LEN).contains(&bytes.len()) {
            return None;
        }
        let mut id = LeaseId {
            len: bytes.len() as u8,
            bytes: [0; MAX_ID_LEN],
        };
        id.bytes[..bytes.len()].copy_from_slice(bytes);
        Some(id)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for LeaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LeaseId({:?})", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// splitmix64's finalizer: a bijection of u64 that spreads every input bit over the output.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A process's seed, from the clock at load (µs), the process id and random bits.
pub fn id_seed(clock_us: u64, process: u64, random: u64) -> u64 {
    mix(mix(clock_us) ^ mix(process.rotate_left(32)) ^ random)
}

/// The `n`-th id a process with `seed` makes.
pub fn generated_id(seed: u64, n: u64) -> LeaseId {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let value = mix(seed.wrapping_add(n));
    let mut digits = [0u8; 16];
    for (i, digit) in digits.iter_mut().enumerate() {
        *digit = HEX[((value >> (60 - 4 * i)) & 0xf) as usize];
    }
    LeaseId::new(&digits).unwrap_or(LeaseId {
        len: 1,
        bytes: [b'0'; MAX_ID_LEN],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_one_to_64_bytes() {
        assert!(LeaseId::new(b"").is_none());
        assert!(LeaseId::new(&[0u8; 65]).is_none());
        assert_eq!(LeaseId::new(b"job-1").unwrap().as_bytes(), b"job-1");
        let longest = [0xffu8; 64];
        assert_eq!(LeaseId::new(&longest).unwrap().as_bytes(), longest);
    }

    #[test]
    fn generated_ids_are_16_hex_digits_and_never_repeat_in_a_process() {
        let seed = id_seed(1_700_000_000_000_000, 4242, 0x1234_5678);
        let ids: HashSet<Vec<u8>> = (0..100_000)
            .map(|n| generated_id(seed, n).as_bytes().to_vec())
            .collect();
        assert_eq!(ids.len(), 100_000);
        for id in ids.iter().take(100) {
            assert_eq!(id.len(), 16);
            assert!(id
                .iter()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        }
    }

    #[test]
    fn two_processes_make_different_ids() {
        // The same clock and counter: the process id or the random bits set them apart.
        let a = id_seed(1_700_000_000_000_000, 1, 7);
        let b = id_seed(1_700_000_000_000_000, 2, 7);
        let c = id_seed(1_700_000_000_000_000, 1, 8);
        let first = |seed| generated_id(seed, 0);
        assert_ne!(first(a), first(b));
        assert_ne!(first(a), first(c));
    }
}
