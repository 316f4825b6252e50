//! Tests of the command layer that need no server.

mod guard;
mod throttle;
