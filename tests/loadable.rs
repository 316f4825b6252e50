//! Every state the module stores is one it can load: states planted at the edges of every
//! bound, then hits, peeks and parameter changes at the server's clock; afterwards each key's
//! own DUMP must RESTORE, and a DEBUG RELOAD must bring back every key as it was.

mod common;

use common::states::{now_us, plant, State, MAX_INSTANT_US, MAX_LIMIT, MAX_WINDOW_US};
use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// A value in `low..=high`, often at or next to an edge.
fn edgy(low: u64, high: u64) -> BoxedStrategy<u64> {
    let mut edges = vec![
        low,
        high,
        (low + 1).min(high),
        high.saturating_sub(1).max(low),
    ];
    for bits in [21u32, 32, 33, 42, 44, 52, 53] {
        let e = 1u64 << bits;
        edges.extend(
            [e - 1, e, e + 1]
                .into_iter()
                .filter(|e| (low..=high).contains(e)),
        );
    }
    prop_oneof![proptest::sample::select(edges), low..=high].boxed()
}

/// States the module should accept: dated anywhere from 1970 to the latest instant allowed,
/// around now most of all, their fields at the edges of their bounds.
fn state() -> impl Strategy<Value = State> {
    let now = now_us();
    let as_of = prop_oneof![
        edgy(0, MAX_INSTANT_US),
        (now - 3_600_000_000..now + 3_600_000_000).boxed(),
    ];
    let window = prop_oneof![
        edgy(1, MAX_WINDOW_US / 1000).prop_map(|ms| ms * 1000),
        edgy(1000, MAX_WINDOW_US),
    ];
    (
        0u8..3,
        window,
        as_of,
        edgy(0, MAX_LIMIT),
        edgy(1, MAX_LIMIT),
        any::<u64>(),
    )
        .prop_flat_map(|(kind, window, as_of, a, b, seed)| {
            let into = edgy(0, window - 1);
            match kind {
                0 => (into, Just(a), Just(b))
                    .prop_map(move |(into, current, previous)| State::Sliding {
                        window,
                        as_of,
                        into,
                        current,
                        previous,
                    })
                    .boxed(),
                1 => into
                    .prop_map(move |into| State::Fixed {
                        window,
                        as_of,
                        into,
                        count: b,
                    })
                    .boxed(),
                _ => {
                    let limit = b;
                    let most = (u128::from(limit) * u128::from(MAX_WINDOW_US) / u128::from(window))
                        .min(u128::from(MAX_LIMIT)) as u64;
                    edgy(1, most)
                        .prop_map(move |burst| {
                            let capacity = u128::from(burst) * u128::from(window);
                            let level = match seed % 3 {
                                0 => capacity,
                                1 => 1,
                                _ => u128::from(seed) % capacity + 1,
                            };
                            State::Bucket {
                                window,
                                limit,
                                burst,
                                as_of,
                                drain: (level / u128::from(limit)) as u64,
                                frac: (level % u128::from(limit)) as u64,
                            }
                        })
                        .boxed()
                }
            }
        })
}

/// The arguments of one RL.HIT or RL.PEEK after the key: any algorithm, limit, window, burst
/// and cost, invalid combinations included (they answer an error and change nothing).
fn hit_args() -> impl Strategy<Value = (bool, Vec<String>)> {
    let window = prop_oneof![
        Just("1ms".to_string()),
        Just("60".to_string()),
        Just("36500d".to_string()),
        (1u64..=100_000_000).prop_map(|ms| format!("{ms}ms")),
        (1u64..=36_500).prop_map(|d| format!("{d}d")),
    ];
    let algo = proptest::sample::select(vec!["SLIDING", "FIXED", "TOKEN", "LEAKY", "GCRA"]);
    (
        any::<bool>(),
        edgy(1, MAX_LIMIT),
        window,
        algo,
        proptest::option::of(edgy(1, MAX_LIMIT)),
        prop_oneof![Just(1u64), edgy(1, MAX_LIMIT)],
    )
        .prop_map(|(peek, limit, window, algo, burst, cost)| {
            let mut args = vec![limit.to_string(), window, "ALGO".into(), algo.into()];
            if let (Some(burst), true) = (burst, !matches!(algo, "SLIDING" | "FIXED")) {
                args.extend(["BURST".into(), burst.to_string()]);
            }
            args.extend(["COST".into(), cost.to_string()]);
            (peek, args)
        })
}

fn keys(con: &mut Connection) -> Vec<Vec<u8>> {
    redis::cmd("KEYS").arg("*").query(con).unwrap()
}

#[test]
fn planted_states_stay_loadable() {
    let server = Server::start();
    let con = std::cell::RefCell::new(server.conn());
    let mut runner = TestRunner::new(Config {
        cases: 150,
        failure_persistence: None,
        ..Config::default()
    });
    let case = (
        proptest::collection::vec(state(), 1..4),
        proptest::collection::vec((0usize..3, hit_args()), 1..12),
    );
    runner
        .run(&case, |(planted, hits)| {
            let mut con = con.borrow_mut();
            let con = &mut *con;
            let _: () = redis::cmd("FLUSHALL").query(con).unwrap();
            let names: Vec<Vec<u8>> = (0..planted.len())
                .map(|i| format!("k{i}").into_bytes())
                .collect();
            for (name, state) in names.iter().zip(&planted) {
                plant(con, name, 0, &state.bytes())
                    .map_err(|e| TestCaseError::fail(format!("{state:?} refused: {e}")))?;
            }
            for (which, (peek, args)) in hits {
                let name = &names[which % names.len()];
                let command = if peek { "RL.PEEK" } else { "RL.HIT" };
                let reply = redis::cmd(command).arg(name).arg(&args).query::<Value>(con);
                if let Err(e) = &reply {
                    let text = error_text(e);
                    prop_assert!(
                        text.starts_with("ERR") && !text.contains("internal"),
                        "{command} {args:?}: {text}"
                    );
                }
            }
            // Each key's own DUMP restores, and a reload brings every key back as it was.
            let mut before = Vec::new();
            for name in keys(con) {
                let Some(payload) = dump(con, &name) else {
                    continue;
                };
                let restored = redis::cmd("RESTORE")
                    .arg(b"copy")
                    .arg(0)
                    .arg(&payload)
                    .arg("REPLACE")
                    .query::<()>(con);
                prop_assert!(
                    restored.is_ok(),
                    "{:?}: {:?}",
                    String::from_utf8_lossy(&name),
                    restored
                );
                let _: () = redis::cmd("DEL").arg(b"copy").query(con).unwrap();
                let ttl: i64 = redis::cmd("PTTL").arg(&name).query(con).unwrap();
                if ttl == -1 || ttl > 10_000 {
                    before.push((name, payload));
                }
            }
            let reloaded = redis::cmd("DEBUG").arg("RELOAD").query::<()>(con);
            prop_assert!(reloaded.is_ok(), "DEBUG RELOAD: {:?}", reloaded);
            for (name, payload) in before {
                prop_assert_eq!(dump(con, &name), Some(payload));
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_state_that_could_not_load_before() {
    // Version 1 of the module stored this state after one hit with a larger BURST, and could
    // not load it back. Planted in version 1's form, it loads, and the hit leaves a valid state.
    let server = Server::start();
    let mut con = server.conn();
    let mut v1 = vec![1u8, 3];
    for word in [60_000_000u64, 5, 1, MAX_INSTANT_US + MAX_WINDOW_US, 0] {
        v1.extend_from_slice(&word.to_le_bytes());
    }
    plant(&mut con, b"b", 0, &v1).expect("a version 1 state at the old bound loads");
    let reply: Vec<i64> = redis::cmd("RL.HIT")
        .arg("b")
        .arg(5)
        .arg("60")
        .arg("ALGO")
        .arg("GCRA")
        .arg("BURST")
        .arg(3)
        .query(&mut con)
        .unwrap();
    assert_eq!(reply[..3], [1, 3, 1]);
    let _: () = redis::cmd("DEBUG").arg("RELOAD").query(&mut con).unwrap();
    assert_eq!(
        hit_with(&mut con, b"b", 5, "60", &["ALGO", "GCRA", "BURST", "3"])[..3],
        [1, 3, 0]
    );
}

#[test]
fn windows_at_both_ends_of_the_range_are_exact() {
    let server = Server::start();
    let mut con = server.conn();
    // 1 per 36500 days: the window starts before 1970, and the second request waits exactly
    // one window after the first (less the time between the two, under a millisecond here).
    assert_eq!(hit(&mut con, b"long", 1, "36500d")[0], 1);
    let second = hit(&mut con, b"long", 1, "36500d");
    assert_eq!(second[0], 0);
    assert_eq!(second[3], 3_153_600_000_000);
    let _ = (MAX_LIMIT, MAX_INSTANT_US);
    // 1 per millisecond.
    assert_eq!(hit(&mut con, b"short", 1, "1ms")[0], 1);
    let second = hit(&mut con, b"short", 1, "1ms");
    assert!(second[0] == 1 || second[3] == 1, "{second:?}");
}
