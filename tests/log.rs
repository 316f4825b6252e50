//! ALGO LOG on real servers: every decision the exact log's, changes replicated as changes,
//! persisted and reloaded, bounded by rl.log-max-entries.

mod common;

use common::clock::Clock;
use common::*;
use rl_core::models::ExactLog;

/// The five fields the exact log answers at millisecond `ms`, waits in whole milliseconds.
fn expected(model: &mut ExactLog, ms: u64, cost: u64) -> [i64; 5] {
    let answer = model.hit(ms * 1000, cost);
    let limit = model.limit as i64;
    [
        i64::from(answer.allowed),
        limit,
        answer.remaining as i64,
        answer.retry_after_us.map_or(-1, |us| (us / 1000) as i64),
        (answer.reset_after_us / 1000) as i64,
    ]
}

/// A deterministic sequence of pseudo-random numbers.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn every_decision_is_the_exact_logs() {
    let dir = scratch_dir("log-exact");
    let mut clock = Clock::new(&dir);
    let server = Server::start_with(clock.options(Options::default()), &dir);
    let mut con = server.conn();
    // Whole milliseconds: LOG counts them, and Valkey adds up to one of its own.
    let mut now_ms = states::now_us() / 1000;
    clock.freeze(now_ms * 1000);
    clock.wait_seen(&mut con);
    let mut rng = Rng(7);
    for (key, limit, window) in [("a", 5, "1s"), ("b", 3, "250ms"), ("c", 40, "10s")] {
        let mut model = ExactLog::new(limit, rl_window_ms(window));
        for _ in 0..300 {
            let step = rng.below(model.window_ms / 4 + 2);
            if step > 0 {
                now_ms += step;
                clock.advance(step as i64 * 1000);
                clock.wait_seen(&mut con);
            }
            let cost = [1, 1, 1, 2, 3][rng.below(5) as usize];
            let reply = hit_with(
                &mut con,
                key.as_bytes(),
                limit,
                window,
                &["ALGO", "LOG", "COST", &cost.to_string()],
            );
            assert_eq!(
                reply,
                expected(&mut model, now_ms, cost),
                "{key} at {now_ms}"
            );
            if reply[4] > 0 {
                assert!((reply[4] - pttl(&mut con, key)).abs() <= 1, "{reply:?}");
            }
        }
    }
}

fn rl_window_ms(window: &str) -> u64 {
    match window.strip_suffix("ms") {
        Some(ms) => ms.parse().unwrap(),
        None => window.trim_end_matches('s').parse::<u64>().unwrap() * 1000,
    }
}

#[test]
fn a_limit_that_could_need_more_entries_than_the_config_allows_is_refused() {
    let server = Server::start();
    let mut con = server.conn();
    let error = error_of(
        &mut con,
        &[b"RL.HIT", b"k", b"20000", b"1h", b"ALGO", b"LOG"],
    );
    assert!(
        error.starts_with("ERR ALGO LOG keeps an entry per millisecond")
            && error.contains("up to 20000")
            && error.contains("rl.log-max-entries (10000)"),
        "{error}"
    );
    // A short window bounds it too: 1,000 ms hold at most 1,000 entries.
    assert_eq!(
        hit_with(&mut con, b"k", 20_000, "1s", &["ALGO", "LOG"])[0],
        1
    );
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("rl.log-max-entries")
        .arg(20_000)
        .query(&mut con)
        .unwrap();
    assert_eq!(
        hit_with(&mut con, b"j", 20_000, "1h", &["ALGO", "LOG"])[0],
        1
    );
}

/// A log of `n` entries, one per millisecond.
fn fill(con: &mut Connection, clock: &mut Clock, key: &[u8], n: usize) {
    for _ in 0..n {
        clock.advance(1_000);
        hit_with(con, key, 10_000, "1h", &["ALGO", "LOG"]);
    }
}

#[test]
fn replicas_receive_changes_not_the_whole_log() {
    let dir = scratch_dir("log-primary");
    let mut clock = Clock::new(&dir);
    let primary = Server::start_with(
        clock.options(Options::default().config("repl-diskless-sync-delay", "0")),
        &dir,
    );
    let replica = Server::start();
    attach_replica(&replica, &primary);
    let (mut p, mut r) = (primary.conn(), replica.conn());
    clock.freeze(states::now_us() / 1000 * 1000);
    clock.wait_seen(&mut p);
    fill(&mut p, &mut clock, b"log", 2_000);
    settle(&mut p);
    let offset = |p: &mut Connection| -> i64 {
        info_field(p, "replication", "master_repl_offset")
            .parse()
            .unwrap()
    };
    let before = offset(&mut p);
    fill(&mut p, &mut clock, b"log", 10);
    let per_hit = (offset(&mut p) - before) / 10;
    // 2,010 entries of a byte each: the whole log would be over 2,000 bytes.
    let held = peek_with(&mut p, b"log", 10_000, "1h", &["ALGO", "LOG"])[2];
    assert_eq!(held, 10_000 - 2_010 - 1);
    assert!(per_hit < 150, "a hit sends {per_hit} bytes");
    settle(&mut p);
    assert_eq!(dump(&mut r, b"log"), dump(&mut p, b"log"));
    assert_eq!(pexpiretime(&mut r, b"log"), pexpiretime(&mut p, b"log"));
}

#[test]
fn a_log_survives_reload_restart_and_an_aof_of_changes() {
    let dir = scratch_dir("log-aof");
    let mut clock = Clock::new(&dir);
    let options = clock.options(
        Options::default()
            .config("appendonly", "yes")
            .config("appendfsync", "always")
            .config("aof-use-rdb-preamble", "no"),
    );
    let server = Server::start_with(options, &dir);
    let mut con = server.conn();
    clock.freeze(states::now_us() / 1000 * 1000);
    clock.wait_seen(&mut con);
    fill(&mut con, &mut clock, b"log", 300);
    let snapshot = |con: &mut Connection| (dump(con, b"log"), pexpiretime(con, b"log"));
    let before = snapshot(&mut con);
    let aof = aof_contents(&dir);
    assert!(aof.windows(11).any(|w| w == b"RL.SETSTATE"));
    let _: () = redis::cmd("DEBUG").arg("RELOAD").query(&mut con).unwrap();
    assert_eq!(snapshot(&mut con), before);
    drop(con);
    let server = server.restart();
    let mut con = server.conn();
    clock.wait_seen(&mut con);
    assert_eq!(
        snapshot(&mut con),
        before,
        "replayed from an AOF of changes"
    );
    let next = hit_with(&mut con, b"log", 10_000, "1h", &["ALGO", "LOG"]);
    assert_eq!(next[..3], [1, 10_000, 10_000 - 301]);
}

#[test]
fn a_key_turns_from_and_to_a_log_keeping_its_usage() {
    let server = Server::start();
    let mut con = server.conn();
    for _ in 0..4 {
        hit(&mut con, b"k", 10, "60");
    }
    assert_eq!(
        hit_with(&mut con, b"k", 10, "60", &["ALGO", "LOG"])[..3],
        [1, 10, 5]
    );
    let kind: String = redis::cmd("TYPE").arg("k").query(&mut con).unwrap();
    assert_eq!(kind, "ratelimit");
    assert_eq!(hit(&mut con, b"k", 10, "60")[..3], [1, 10, 4]);
    // RL.MHIT mixes a log with the other algorithms, all or nothing.
    let mhit = |con: &mut Connection, extra: &[&str]| -> Vec<i64> {
        redis::cmd("RL.MHIT")
            .arg(
                &[
                    "2", "{u}:log", "{u}:gcra", "LIMIT", "2", "1h", "ALGO", "LOG",
                ][..],
            )
            .arg(&["LIMIT", "5", "1h", "ALGO", "GCRA"][..])
            .arg(extra)
            .query(con)
            .unwrap()
    };
    assert_eq!(mhit(&mut con, &["COST", "2"])[..3], [1, 2, 0]);
    let denied = mhit(&mut con, &[]);
    assert_eq!((denied[0], denied[5]), (0, 1));
    // Two units held, and the peeked request's one: two left.
    assert_eq!(
        peek_with(&mut con, b"{u}:gcra", 5, "1h", &["ALGO", "GCRA"])[2],
        2
    );
}
