//! The panic guard and the shape of the decision reply.

use std::ffi::c_int;

use redis_module::raw;

use crate::api::{Ctx, RString};
use crate::commands::{decision_fields, guarded};
use crate::limiter::{Decision, Retry};

#[test]
fn a_panicking_handler_is_contained() {
    fn buggy(_: Ctx, _: &[RString]) {
        panic!("a bug");
    }
    let status = guarded(std::ptr::null_mut(), std::ptr::null_mut(), 0, buggy);
    assert_eq!(status, raw::REDISMODULE_OK as c_int);
}

#[test]
fn decisions_become_five_integers() {
    use crate::limiter::Micros;
    let denied = Decision {
        allowed: false,
        limit: 10,
        remaining: 0,
        retry_after: Retry::After(Micros(1_001)),
        reset_after: Micros(59_999_999),
    };
    assert_eq!(decision_fields(&denied), [0, 10, 0, 2, 60_000]);
    let never = Decision {
        retry_after: Retry::Never,
        ..denied
    };
    assert_eq!(decision_fields(&never)[3], -1);
}
