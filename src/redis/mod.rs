//! The module's side of the server: everything that touches the module API.
//!
//! The server's functions are called in five files only, each wrapping them in safe types
//! with lifetimes: `api` (the function table, checked at load), `context` (a call's context
//! and arguments), `key` (an open key), `io` (persistence streams), `setup` (what the module
//! asks for at load).
//!
//! - `store`: how a state is read from a key, written with its expiry, announced, replicated.
//! - `datatype`: the `ratelimit` type's callbacks (RDB, AOF rewrite, copy, digest, memory).
//! - `leases`: the `rl-leases` type (concurrency leases): its callbacks, and how its states
//!   are read from keys, written with their expiry, announced and replicated.
//! - `packed`: a state's layout in memory, inside a key.
//! - `propagation`: whether anything (AOF, replicas, backlog, cluster) can receive effects.
//! - `notify`: keyspace events, and the expiry of restored keys.
//! - `config`: the `rl.*` configs; `metrics`: the `INFO rl` counters.

pub mod api;
pub mod config;
pub mod context;
pub mod datatype;
pub mod io;
pub mod key;
pub mod leases;
pub mod metrics;
pub mod notify;
pub mod packed;
pub mod propagation;
pub mod setup;
pub mod store;
