//! Division of 128-bit products by 64-bit divisors.
//!
//! The limiter multiplies counts by windows in 128 bits so that nothing can overflow, but the
//! products are nearly always small. A 128-bit division is a library call tens of cycles long;
//! when the dividend fits in 64 bits, one machine division gives the same quotient.

/// `n / d`.
pub fn div(n: u128, d: u64) -> u128 {
    match u64::try_from(n) {
        Ok(n) => u128::from(n / d),
        Err(_) => n / u128::from(d),
    }
}

/// `n / d`, rounded up.
pub fn div_ceil(n: u128, d: u64) -> u128 {
    match u64::try_from(n) {
        Ok(n) => u128::from(n.div_ceil(d)),
        Err(_) => n.div_ceil(u128::from(d)),
    }
}

/// `(n / d, n % d)`.
pub fn div_rem(n: u128, d: u64) -> (u128, u64) {
    match u64::try_from(n) {
        Ok(n) => (u128::from(n / d), n % d),
        Err(_) => (n / u128::from(d), (n % u128::from(d)) as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn same_as_128_bit_division(n in any::<u128>(), small in any::<u64>(), d in 1..=u64::MAX) {
            for n in [n, u128::from(small)] {
                let wide = u128::from(d);
                prop_assert_eq!(div(n, d), n / wide);
                prop_assert_eq!(div_ceil(n, d), n.div_ceil(wide));
                prop_assert_eq!(div_rem(n, d), (n / wide, (n % wide) as u64));
            }
        }
    }
}
