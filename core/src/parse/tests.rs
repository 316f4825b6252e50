use super::*;

const SLIDING: Algorithm = Algorithm::Sliding;

fn hit(limit: &str, window: &str, options: &[&str]) -> Result<Params, ArgError> {
    hit_params(
        limit.as_bytes(),
        window.as_bytes(),
        options.iter().map(|o| o.as_bytes()),
        &Settings::default(),
    )
}

fn mhit(keys: usize, tokens: &str) -> Result<Vec<Params>, ArgError> {
    mhit_params(
        keys,
        tokens.split(' ').map(str::as_bytes),
        &Settings::default(),
    )
    .map(|l| l.as_slice().to_vec())
}

#[test]
fn integers_follow_redis_syntax() {
    assert_eq!(integer(b"0"), Some(0));
    assert_eq!(integer(b"42"), Some(42));
    assert_eq!(integer(b"18446744073709551615"), Some(u64::MAX));
    for bad in [
        "",
        "-1",
        "+1",
        " 5",
        "5 ",
        "05",
        "1e3",
        "1.as_micros()",
        "0x10",
        "18446744073709551616",
        "99999999999999999999999",
    ] {
        assert_eq!(integer(bad.as_bytes()), None, "{bad:?}");
    }
}

#[test]
fn durations_take_units() {
    assert_eq!(duration(b"60"), Some(Micros::from_millis(60_000)));
    assert_eq!(duration(b"1500ms"), Some(Micros::from_millis(1_500)));
    assert_eq!(duration(b"10s"), Some(Micros::from_millis(10_000)));
    assert_eq!(duration(b"5m"), Some(Micros::from_millis(300_000)));
    assert_eq!(duration(b"1H"), Some(Micros::from_millis(3_600_000)));
    assert_eq!(duration(b"1d"), Some(Micros::from_millis(86_400_000)));
    assert_eq!(duration(b"1ms"), Some(MIN_WINDOW));
    assert_eq!(duration(b"36500d"), Some(MAX_WINDOW));
    assert_eq!(duration(b"365d"), Some(Micros::from_millis(31_536_000_000)));
    for bad in [
        "0",
        "0ms",
        "-1",
        "10x",
        "ms",
        "1.5s",
        " 1s",
        "1 s",
        "36501d",
        "99999999999999999999d",
        "18446744073709551615ms",
        "",
    ] {
        assert_eq!(duration(bad.as_bytes()), None, "{bad:?}");
    }
}

#[test]
fn hit_parameters_and_their_errors() {
    assert_eq!(
        hit("10", "60", &[]),
        Ok(Params::new(SLIDING, 10, Micros::from_millis(60_000), None, 1).unwrap())
    );
    assert_eq!(hit("10", "1s", &["cost", "3"]).map(|p| p.cost), Ok(3));
    assert_eq!(hit("0", "60", &[]), Err(ArgError::Limit));
    assert_eq!(hit("9223372036854775808", "60", &[]), Err(ArgError::Limit));
    assert_eq!(hit("10", "0", &[]), Err(ArgError::Window));
    assert_eq!(hit("10", "60", &["COST", "0"]), Err(ArgError::Cost));
    assert_eq!(
        hit("10", "60", &["COST"]),
        Err(ArgError::MissingValue("COST"))
    );
    assert_eq!(
        hit("10", "60", &["COST", "1", "COST", "2"]),
        Err(ArgError::Repeated("COST"))
    );
    assert_eq!(
        hit("10", "60", &["FOO", "1"]),
        Err(ArgError::UnknownOption("FOO".into(), "COST, ALGO or BURST"))
    );
    assert_eq!(
        hit("10", "60", &["\r\nX"]),
        Err(ArgError::UnknownOption("??X".into(), "COST, ALGO or BURST"))
    );
}

#[test]
fn algorithms_and_bursts() {
    let gcra = hit("10", "1s", &["ALGO", "gcra", "BURST", "25"]).unwrap();
    assert_eq!(
        (gcra.algorithm, gcra.burst, gcra.capacity()),
        (Algorithm::Gcra, 25, 25)
    );
    let token = hit("10", "1s", &["algo", "TOKEN"]).unwrap();
    assert_eq!((token.algorithm, token.burst), (Algorithm::Token, 10));
    assert_eq!(
        hit("10", "1s", &["ALGO", "leaky"]).unwrap().algorithm,
        Algorithm::Leaky
    );
    assert_eq!(
        hit("10", "1s", &["ALGO", "fixed"]).unwrap().algorithm,
        Algorithm::Fixed
    );
    assert_eq!(hit("10", "1s", &["ALGO", "cell"]), Err(ArgError::Algorithm));
    assert_eq!(
        hit("10", "1s", &["ALGO"]),
        Err(ArgError::MissingValue("ALGO"))
    );
    assert_eq!(
        hit("10", "1s", &["BURST", "5"]),
        Err(ArgError::BurstWithoutBucket)
    );
    assert_eq!(
        hit("10", "1s", &["ALGO", "FIXED", "BURST", "5"]),
        Err(ArgError::BurstWithoutBucket)
    );
    assert_eq!(
        hit("10", "1s", &["ALGO", "GCRA", "BURST", "0"]),
        Err(ArgError::Burst)
    );
    // A full bucket must drain within 36500 days.
    assert!(hit("1", "36500d", &["ALGO", "GCRA", "BURST", "1"]).is_ok());
    assert_eq!(
        hit("1", "36500d", &["ALGO", "GCRA", "BURST", "2"]),
        Err(ArgError::BurstTooLarge)
    );
    // The default algorithm applies when ALGO is absent.
    let token = Settings {
        default_algorithm: Algorithm::Token,
        ..Settings::default()
    };
    let p = hit_params(b"5", b"1s", [&b"BURST"[..], b"9"], &token).unwrap();
    assert_eq!((p.algorithm, p.burst), (Algorithm::Token, 9));
}

#[test]
fn mhit_clauses() {
    let limits = mhit(2, "LIMIT 10 1s LIMIT 1000 1h ALGO GCRA BURST 50 COST 2").unwrap();
    assert_eq!(limits.len(), 2);
    assert_eq!(
        (limits[0].limit, limits[0].algorithm, limits[0].cost),
        (10, SLIDING, 2)
    );
    assert_eq!(
        (limits[1].limit, limits[1].burst, limits[1].cost),
        (1000, 50, 2)
    );
    assert_eq!(
        mhit(2, "LIMIT 10 1s"),
        Err(ArgError::ClauseCount {
            keys: 2,
            clauses: 1
        })
    );
    assert_eq!(
        mhit(1, "ALGO GCRA LIMIT 10 1s"),
        Err(ArgError::OutsideClause("ALGO"))
    );
    assert_eq!(mhit(1, "LIMIT 10"), Err(ArgError::MissingValue("LIMIT")));
    assert_eq!(mhit(1, "LIMIT 0 1s"), Err(ArgError::Limit));
    assert_eq!(mhit(1, "LIMIT 1 1x"), Err(ArgError::Window));
    assert_eq!(
        mhit(1, "LIMIT 1 1s COST 1 COST 2"),
        Err(ArgError::Repeated("COST"))
    );
    assert_eq!(
        mhit(1, "LIMIT 1 1s BURST 3"),
        Err(ArgError::BurstWithoutBucket)
    );
    assert_eq!(
        mhit(1, "LIMIT 1 1s NOPE 3"),
        Err(ArgError::UnknownOption(
            "NOPE".into(),
            "LIMIT, COST, ALGO or BURST"
        ))
    );
    assert_eq!(numkeys(b"2", 5), Ok(2));
    assert_eq!(numkeys(b"0", 5), Err(ArgError::NumKeys));
    assert_eq!(numkeys(b"6", 5), Err(ArgError::NumKeys));
    assert_eq!(numkeys(b"65", 500), Err(ArgError::NumKeys));
}

#[test]
fn cell_arguments() {
    let p = cell_params(b"15", b"30", b"60", None).unwrap();
    assert_eq!(
        (p.algorithm, p.burst, p.limit, p.window, p.cost),
        (Algorithm::Gcra, 16, 30, Micros::from_millis(60_000), 1)
    );
    assert_eq!(
        cell_params(b"0", b"1", b"1", Some(b"0")).map(|p| p.cost),
        Ok(0)
    );
    assert_eq!(
        cell_params(b"-1", b"30", b"60", None),
        Err(ArgError::MaxBurst)
    );
    assert_eq!(cell_params(b"15", b"0", b"60", None), Err(ArgError::Count));
    assert_eq!(cell_params(b"15", b"30", b"0", None), Err(ArgError::Period));
    assert_eq!(
        cell_params(b"15", b"30", b"99999999999999999999", None),
        Err(ArgError::Period)
    );
    assert_eq!(
        cell_params(b"15", b"30", b"60", Some(b"-1")),
        Err(ArgError::Quantity)
    );
    assert_eq!(
        cell_params(b"9223372036854775806", b"1", b"3153600000", None),
        Err(ArgError::CellBurstTooLarge)
    );
}

#[test]
fn messages_name_the_argument() {
    assert!(ArgError::Limit.to_string().starts_with("limit "));
    assert!(ArgError::Window.to_string().starts_with("window "));
    assert!(ArgError::Cost.to_string().starts_with("COST "));
    assert!(ArgError::Burst.to_string().starts_with("BURST "));
    assert_eq!(
        ArgError::Algorithm.to_string(),
        "ALGO must be one of SLIDING, FIXED, TOKEN, LEAKY, GCRA or LOG"
    );
    assert!(ArgError::UnknownOption("X".into(), "COST")
        .to_string()
        .contains("'X'"));
}

fn acquire(
    limit: &str,
    lease: &str,
    options: &[&str],
) -> Result<(LeaseParams, Option<LeaseId>), ArgError> {
    acquire_params(
        limit.as_bytes(),
        lease.as_bytes(),
        options.iter().map(|o| o.as_bytes()),
        &Settings::default(),
    )
}

#[test]
fn acquire_arguments_and_their_errors() {
    let (p, id) = acquire("5", "30s", &[]).unwrap();
    assert_eq!(
        (p.limit(), p.lease(), p.cost(), id),
        (5, Micros::from_millis(30_000), 1, None)
    );
    let (p, id) = acquire("5", "250ms", &["cost", "2", "id", "job-7"]).unwrap();
    assert_eq!((p.cost(), id), (2, LeaseId::new(b"job-7")));
    // A cost above the limit is a request that never fits, not an error.
    assert_eq!(acquire("5", "1s", &["COST", "6"]).unwrap().0.cost(), 6);
    let limit = ArgError::LeaseLimit(10_000);
    assert_eq!(acquire("0", "1s", &[]), Err(limit.clone()));
    assert_eq!(acquire("-1", "1s", &[]), Err(limit.clone()));
    assert_eq!(acquire("10001", "1s", &[]), Err(limit.clone()));
    assert!(acquire("10000", "1s", &[]).is_ok());
    assert_eq!(acquire("5", "0", &[]), Err(ArgError::Lease));
    assert_eq!(acquire("5", "36501d", &[]), Err(ArgError::Lease));
    assert_eq!(acquire("5", "1s", &["COST", "0"]), Err(ArgError::Cost));
    assert_eq!(
        acquire("5", "1s", &["ID", ""]),
        Err(ArgError::LeaseId("ID"))
    );
    let long = "x".repeat(65);
    assert_eq!(
        acquire("5", "1s", &["ID", &long]),
        Err(ArgError::LeaseId("ID"))
    );
    assert!(acquire("5", "1s", &["ID", &long[..64]]).is_ok());
    assert_eq!(
        acquire("5", "1s", &["ID"]),
        Err(ArgError::MissingValue("ID"))
    );
    assert_eq!(
        acquire("5", "1s", &["ID", "a", "ID", "b"]),
        Err(ArgError::Repeated("ID"))
    );
    assert_eq!(
        acquire("5", "1s", &["ALGO", "GCRA"]),
        Err(ArgError::UnknownOption("ALGO".into(), "COST or ID"))
    );
    // The bound follows the config, within MAX_HELD.
    let held = |lease_max_held| Settings {
        lease_max_held,
        ..Settings::default()
    };
    let small = acquire_params(b"4", b"1s", [], &held(3));
    assert_eq!(small, Err(ArgError::LeaseLimit(3)));
    let huge = acquire_params(b"1000001", b"1s", [], &held(u64::MAX));
    assert_eq!(huge, Err(ArgError::LeaseLimit(MAX_HELD)));
}

#[test]
fn lease_messages_name_the_argument_and_the_config() {
    assert_eq!(
        ArgError::LeaseLimit(10_000).to_string(),
        "limit must be an integer from 1 to 10000, the most leases a key may hold \
         (rl.lease-max-held)"
    );
    assert!(ArgError::Lease
        .to_string()
        .starts_with("lease must be a duration"));
    assert_eq!(
        ArgError::LeaseId("id").to_string(),
        "id must be from 1 to 64 bytes"
    );
    assert_eq!(lease_duration(b"5m"), Ok(Micros::from_millis(300_000)));
    assert_eq!(lease_id(b"", "id"), Err(ArgError::LeaseId("id")));
}
