//! The three engines behind the five algorithms: `sliding` (SLIDING), `fixed` (FIXED) and
//! `bucket` (TOKEN, LEAKY and GCRA, which are one mathematics). Each is a pure function of a
//! state of its own kind, the parameters and now.

pub mod bucket;
pub mod fixed;
pub mod sliding;
