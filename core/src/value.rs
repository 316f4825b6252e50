//! What a key holds, and what a decision writes to it.
//!
//! Most algorithms keep a state of fixed size (`State`, copied freely). ALGO LOG keeps a log
//! whose length grows with the requests in its window: it is read by reference and changed in
//! place (`LogEdit`), so that a request never copies it.

use crate::engines::log::{Log, LogEdit, LogFault};
use crate::{Invalid, Micros, State};

/// A key's value, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    State(State),
    Log(Log),
}

/// A key's value as the limiter reads it.
#[derive(Clone, Copy, Debug)]
pub enum Held<'a> {
    State(State),
    Log(&'a Log),
}

/// What a decision writes to a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Store this state in place of the key's value.
    State(State),
    /// Store this log in place of the key's value.
    Log(Log),
    /// Change the log the key holds.
    Edit(LogEdit),
}

/// Why a value is not one the module may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    State(Invalid),
    Log(LogFault),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::State(why) => why.fmt(f),
            Fault::Log(why) => why.fmt(f),
        }
    }
}

impl Value {
    pub fn held(&self) -> Held<'_> {
        match self {
            Value::State(s) => Held::State(*s),
            Value::Log(l) => Held::Log(l),
        }
    }

    /// The one rule of what the module may hold (O(n) for a log: the decoder's check).
    pub fn validate(&self) -> Result<(), Fault> {
        match self {
            Value::State(s) => s.validate().map_err(Fault::State),
            Value::Log(l) => l.validate().map_err(Fault::Log),
        }
    }

    /// When the value stops carrying information (the key's expiry); `None` when it carries
    /// none already.
    pub fn expires_at(&self) -> Option<Micros> {
        match self {
            Value::State(s) => s.expires_at(),
            Value::Log(l) => l.expires_at(),
        }
    }

    pub fn as_of(&self) -> Micros {
        match self {
            Value::State(s) => s.as_of(),
            Value::Log(l) => l.as_of(),
        }
    }

    /// The value after `write`; an edit of a key that holds no log leaves it as it was.
    pub fn apply(&mut self, write: &Write) {
        match (write, &mut *self) {
            (Write::State(s), _) => *self = Value::State(*s),
            (Write::Log(l), _) => *self = Value::Log(l.clone()),
            (Write::Edit(edit), Value::Log(l)) => l.apply(edit),
            (Write::Edit(_), Value::State(_)) => {}
        }
    }
}

impl Held<'_> {
    pub fn as_of(&self) -> Micros {
        match self {
            Held::State(s) => s.as_of(),
            Held::Log(l) => l.as_of(),
        }
    }

    /// When the value stops carrying information.
    pub fn to_expiry(&self) -> Option<Micros> {
        match self {
            Held::State(s) => s.expires_at(),
            Held::Log(l) => l.expires_at(),
        }
    }

    pub fn to_value(&self) -> Value {
        match self {
            Held::State(s) => Value::State(*s),
            Held::Log(l) => Value::Log((*l).clone()),
        }
    }
}
