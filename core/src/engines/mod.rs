//! The engines behind the algorithms: `sliding` (SLIDING), `fixed` (FIXED), `bucket` (TOKEN,
//! LEAKY and GCRA, which are one mathematics) and `log` (LOG, the exact rolling window). Each
//! is a pure function of a value of its own kind, the parameters and now.

pub mod bucket;
pub mod fixed;
pub mod log;
pub mod sliding;
