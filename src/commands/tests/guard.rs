//! The panic guard and the shape of the replies.

use rl_core::{Decision, Micros, Retry};

use crate::commands::reply::decision_fields;
use crate::commands::{contained, CommandError};

#[test]
fn a_panicking_handler_is_contained() {
    let outcome: Result<(), CommandError> = contained(|| panic!("a bug"));
    assert!(matches!(outcome, Err(CommandError::Panicked)));
    assert_eq!(
        CommandError::Panicked.to_string(),
        "ERR internal error in the rl module"
    );
    let fine: Result<u8, CommandError> = contained(|| Ok(7));
    assert!(matches!(fine, Ok(7)));
}

#[test]
fn decisions_become_five_integers() {
    let denied = Decision {
        allowed: false,
        capacity: 10,
        remaining: 0,
        retry_after: Retry::After(Micros::from_micros(1_001)),
        reset_after: Micros::from_micros(59_999_999),
    };
    assert_eq!(decision_fields(&denied), [0, 10, 0, 2, 60_000]);
    let never = Decision {
        retry_after: Retry::Never,
        ..denied
    };
    assert_eq!(decision_fields(&never)[3], -1);
}
