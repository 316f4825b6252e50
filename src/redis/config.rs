//! The module's settings.
//!
//! - `rl.default-algorithm` (`sliding`, `fixed`, `token`, `leaky`, `gcra`; default `sliding`):
//!   the algorithm of a limit that names none; `CONFIG SET` changes it at run time.
//! - `rl.cell-compat` (`yes`/`no`, default `no`): registers `CL.THROTTLE`. Read once at load,
//!   since commands can only be registered then.
//!
//! - `rl.log-max-entries` (1 to 16,777,216, default 10,000): the most entries an ALGO LOG key
//!   may need; a LOG limit that could need more is refused. `CONFIG SET` changes it at run
//!   time (keys already holding more keep them).
//! - `rl.lease-max-held` (1 to 1,000,000, default 10,000): the most leases a key may hold, so
//!   the largest RL.ACQUIRE limit; `CONFIG SET` changes it at run time (keys already holding
//!   more keep them until they expire or are released).
//! - `rl.notify-denied` (`yes`/`no`, default `no`): a denied request publishes the keyspace
//!   event `rl.denied` (module class); `CONFIG SET` changes it at run time.
//!
//! All of them may also be given as module arguments, `loadmodule librl.so cell-compat yes`, which
//! set their starting values; a config line (`rl.cell-compat yes` after the loadmodule line,
//! or `MODULE LOADEX ... CONFIG`) takes precedence.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use redis_module::raw;
use rl_core::leases::{DEFAULT_MAX_HELD, MAX_HELD};
use rl_core::parse;
use rl_core::Algorithm;

use super::context::Ctx;

type RString = *mut raw::RedisModuleString;

static DEFAULT_ALGORITHM: AtomicUsize = AtomicUsize::new(0);
static CELL_COMPAT: AtomicBool = AtomicBool::new(false);
static NOTIFY_DENIED: AtomicBool = AtomicBool::new(false);
static LEASE_MAX_HELD: AtomicU64 = AtomicU64::new(DEFAULT_MAX_HELD);
static LOG_MAX_ENTRIES: AtomicU64 = AtomicU64::new(LOG_MAX_ENTRIES_DEFAULT);

/// The most entries an ALGO LOG key may need, by default: 10,000 entries of a few bytes.
const LOG_MAX_ENTRIES_DEFAULT: u64 = 10_000;

/// The algorithm of a limit that names none.
pub fn default_algorithm() -> Algorithm {
    let index = DEFAULT_ALGORITHM.load(Ordering::Relaxed);
    Algorithm::ALL
        .get(index)
        .copied()
        .unwrap_or(Algorithm::Sliding)
}

/// What the configuration adds to every command's arguments.
pub fn settings() -> parse::Settings {
    parse::Settings {
        default_algorithm: default_algorithm(),
        log_max_entries: LOG_MAX_ENTRIES.load(Ordering::Relaxed),
        lease_max_held: LEASE_MAX_HELD.load(Ordering::Relaxed),
    }
}

pub fn cell_compat() -> bool {
    CELL_COMPAT.load(Ordering::Relaxed)
}

pub fn notify_denied() -> bool {
    NOTIFY_DENIED.load(Ordering::Relaxed)
}

/// Reads the module arguments, registers the configs and applies the server's config lines.
pub fn load(ctx: Ctx, module_args: &[&[u8]]) -> Result<(), String> {
    let Starting {
        algorithm,
        cell,
        notify_denied,
        log_max_entries,
        lease_max_held,
    } = starting_values(module_args)?;
    let names: Vec<CString> = Algorithm::ALL
        .iter()
        .map(|a| CString::new(a.name().to_ascii_lowercase()).unwrap_or_default())
        .collect();
    let names: Vec<&CStr> = names.iter().map(|n| n.as_c_str()).collect();
    let registered = ctx.register_enum_config(
        c"default-algorithm",
        algorithm as c_int,
        raw::REDISMODULE_CONFIG_DEFAULT,
        &names,
        Some(get_algorithm),
        Some(set_algorithm),
    ) && ctx.register_bool_config(
        c"cell-compat",
        cell,
        raw::REDISMODULE_CONFIG_IMMUTABLE,
        Some(get_cell_compat),
        Some(set_cell_compat),
    ) && ctx.register_numeric_config(
        c"log-max-entries",
        log_max_entries as i64,
        (1, rl_core::engines::log::MAX_ENTRIES as i64),
        Some(get_log_max_entries),
        Some(set_log_max_entries),
    ) && ctx.register_bool_config(
        c"notify-denied",
        notify_denied,
        raw::REDISMODULE_CONFIG_DEFAULT,
        Some(get_notify_denied),
        Some(set_notify_denied),
    ) && ctx.register_numeric_config(
        c"lease-max-held",
        lease_max_held as i64,
        (1, MAX_HELD as i64),
        Some(get_lease_max_held),
        Some(set_lease_max_held),
    );
    if !registered {
        return Err("could not register the rl.* configs".into());
    }
    if !ctx.load_configs() {
        return Err("could not apply the rl.* config lines".into());
    }
    Ok(())
}

/// The values the module arguments give, before the config lines.
struct Starting {
    algorithm: usize,
    cell: bool,
    notify_denied: bool,
    log_max_entries: u64,
    lease_max_held: u64,
}

impl Default for Starting {
    fn default() -> Starting {
        Starting {
            algorithm: 0,
            cell: false,
            notify_denied: false,
            log_max_entries: LOG_MAX_ENTRIES_DEFAULT,
            lease_max_held: DEFAULT_MAX_HELD,
        }
    }
}

/// `name value` pairs: `default-algorithm <algorithm>`, `cell-compat yes|no`,
/// `notify-denied yes|no`, `log-max-entries <n>`, `lease-max-held <n>`.
fn starting_values(module_args: &[&[u8]]) -> Result<Starting, String> {
    let mut starting = Starting::default();
    let mut rest = module_args;
    while let [name, tail @ ..] = rest {
        let [value, tail @ ..] = tail else {
            return Err(format!("module argument {} needs a value", shown(name)));
        };
        if name.eq_ignore_ascii_case(b"default-algorithm") {
            let chosen = parse::algorithm(value).map_err(|e| e.to_string())?;
            starting.algorithm = Algorithm::ALL
                .iter()
                .position(|a| *a == chosen)
                .unwrap_or(0);
        } else if name.eq_ignore_ascii_case(b"cell-compat") {
            starting.cell = yes_or_no("cell-compat", value)?;
        } else if name.eq_ignore_ascii_case(b"notify-denied") {
            starting.notify_denied = yes_or_no("notify-denied", value)?;
        } else if name.eq_ignore_ascii_case(b"log-max-entries") {
            starting.log_max_entries = parse::integer(value)
                .filter(|n| (1..=rl_core::engines::log::MAX_ENTRIES).contains(n))
                .ok_or("module argument log-max-entries must be an integer from 1 to 16777216")?;
        } else if name.eq_ignore_ascii_case(b"lease-max-held") {
            starting.lease_max_held = parse::integer(value)
                .filter(|n| (1..=MAX_HELD).contains(n))
                .ok_or(format!(
                    "module argument lease-max-held must be an integer from 1 to {MAX_HELD}"
                ))?;
        } else {
            return Err(format!(
                "unknown module argument {}, expected default-algorithm, cell-compat, \
                 notify-denied, log-max-entries or lease-max-held",
                shown(name)
            ));
        }
        rest = tail;
    }
    Ok(starting)
}

fn yes_or_no(name: &str, value: &[u8]) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_slice() {
        b"yes" => Ok(true),
        b"no" => Ok(false),
        _ => Err(format!("module argument {name} must be yes or no")),
    }
}

fn shown(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

unsafe extern "C" fn get_algorithm(_name: *const c_char, _privdata: *mut c_void) -> c_int {
    DEFAULT_ALGORITHM.load(Ordering::Relaxed) as c_int
}

unsafe extern "C" fn set_algorithm(
    _name: *const c_char,
    value: c_int,
    _privdata: *mut c_void,
    _err: *mut RString,
) -> c_int {
    match usize::try_from(value) {
        Ok(index) if index < Algorithm::ALL.len() => {
            DEFAULT_ALGORITHM.store(index, Ordering::Relaxed);
            raw::REDISMODULE_OK as c_int
        }
        _ => raw::REDISMODULE_ERR as c_int,
    }
}

unsafe extern "C" fn get_cell_compat(_name: *const c_char, _privdata: *mut c_void) -> c_int {
    c_int::from(CELL_COMPAT.load(Ordering::Relaxed))
}

unsafe extern "C" fn set_cell_compat(
    _name: *const c_char,
    value: c_int,
    _privdata: *mut c_void,
    _err: *mut RString,
) -> c_int {
    CELL_COMPAT.store(value != 0, Ordering::Relaxed);
    raw::REDISMODULE_OK as c_int
}

unsafe extern "C" fn get_notify_denied(_name: *const c_char, _privdata: *mut c_void) -> c_int {
    c_int::from(NOTIFY_DENIED.load(Ordering::Relaxed))
}

unsafe extern "C" fn set_notify_denied(
    _name: *const c_char,
    value: c_int,
    _privdata: *mut c_void,
    _err: *mut RString,
) -> c_int {
    NOTIFY_DENIED.store(value != 0, Ordering::Relaxed);
    raw::REDISMODULE_OK as c_int
}

unsafe extern "C" fn get_log_max_entries(_name: *const c_char, _privdata: *mut c_void) -> i64 {
    LOG_MAX_ENTRIES.load(Ordering::Relaxed) as i64
}

unsafe extern "C" fn set_log_max_entries(
    _name: *const c_char,
    value: i64,
    _privdata: *mut c_void,
    _err: *mut RString,
) -> c_int {
    // The server keeps the value within the registered bounds.
    LOG_MAX_ENTRIES.store(value.max(1) as u64, Ordering::Relaxed);
    raw::REDISMODULE_OK as c_int
}

unsafe extern "C" fn get_lease_max_held(_name: *const c_char, _privdata: *mut c_void) -> i64 {
    LEASE_MAX_HELD.load(Ordering::Relaxed) as i64
}

unsafe extern "C" fn set_lease_max_held(
    _name: *const c_char,
    value: i64,
    _privdata: *mut c_void,
    _err: *mut RString,
) -> c_int {
    // The server keeps the value within the registered bounds.
    LEASE_MAX_HELD.store(value.clamp(1, MAX_HELD as i64) as u64, Ordering::Relaxed);
    raw::REDISMODULE_OK as c_int
}
