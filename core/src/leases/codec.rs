//! The byte form of a leases state: the RDB file (and so `DUMP`/`RESTORE`), the AOF rewrite,
//! the effect sent to replicas (`RL.SETLEASES`) and `DEBUG DIGEST`. It starts with a format
//! version so that a later module can still read what this one wrote, and decoding checks the
//! state with `Leases::validate`, the rule every write obeys.
//!
//! Layout, integers little-endian:
//!
//! ```text
//! version 1 (u8) | limit (u64) | as_of_us (u64) | count (u32) | count × lease
//! lease: expires_at_us (u64) | units (u64) | id length (u8) | id bytes
//! ```
//!
//! A lease takes 17 bytes plus its id (33 for a server-made id), the header 21.

use std::fmt;

use super::{Invalid, Leases, MAX_HELD};
use crate::Micros;

const VERSION: u8 = 1;
const HEADER: usize = 1 + 8 + 8 + 4;
/// A lease's bytes besides its id.
const LEASE_FIXED: usize = 8 + 8 + 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    Version(u8),
    Length,
    Invalid(Invalid),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Version(v) => write!(f, "unknown format version {v}"),
            DecodeError::Length => f.write_str("its length does not match its leases"),
            DecodeError::Invalid(why) => write!(f, "invalid state: {why}"),
        }
    }
}

/// The length of `leases`' byte form.
pub fn encoded_len(leases: &Leases) -> usize {
    HEADER
        + leases
            .iter()
            .map(|l| LEASE_FIXED + l.id.len())
            .sum::<usize>()
}

pub fn encode(leases: &Leases) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len(leases));
    out.push(VERSION);
    out.extend_from_slice(&leases.limit().to_le_bytes());
    out.extend_from_slice(&leases.as_of().as_micros().to_le_bytes());
    // At most MAX_HELD leases, which fits.
    out.extend_from_slice(&(leases.len() as u32).to_le_bytes());
    for lease in leases.iter() {
        out.extend_from_slice(&lease.expires_at.as_micros().to_le_bytes());
        out.extend_from_slice(&lease.units.to_le_bytes());
        out.push(lease.id.len() as u8);
        out.extend_from_slice(lease.id);
    }
    out
}

pub fn decode(bytes: &[u8]) -> Result<Leases, DecodeError> {
    let mut reader = Reader { bytes };
    let version = reader.take::<1>()?[0];
    if version != VERSION {
        return Err(DecodeError::Version(version));
    }
    let limit = u64::from_le_bytes(reader.take()?);
    let as_of = Micros::from_micros(u64::from_le_bytes(reader.take()?));
    let count = u32::from_le_bytes(reader.take()?);
    if u64::from(count) > MAX_HELD {
        return Err(DecodeError::Invalid(Invalid::Count));
    }
    // Every lease takes at least LEASE_FIXED bytes: a count the bytes cannot hold is
    // refused before anything is allocated for it.
    if (count as usize).saturating_mul(LEASE_FIXED) > reader.bytes.len() {
        return Err(DecodeError::Length);
    }
    // Valid bytes hold exactly the ids' bytes besides the leases' fixed fields.
    let id_bytes = reader.bytes.len() - count as usize * LEASE_FIXED;
    let mut leases = Leases::with_capacity(limit, as_of, count as usize, id_bytes);
    for _ in 0..count {
        let expires_at = Micros::from_micros(u64::from_le_bytes(reader.take()?));
        let units = u64::from_le_bytes(reader.take()?);
        let len = usize::from(reader.take::<1>()?[0]);
        let id = reader.slice(len)?;
        leases
            .push(id, expires_at, units)
            .map_err(DecodeError::Invalid)?;
    }
    if !reader.bytes.is_empty() {
        return Err(DecodeError::Length);
    }
    leases.validate().map_err(DecodeError::Invalid)?;
    Ok(leases)
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn slice(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < len {
            return Err(DecodeError::Length);
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.slice(N)?);
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
