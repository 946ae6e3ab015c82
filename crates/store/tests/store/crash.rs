//! The SQLite crash test: a child process writes with several concurrent writers and prints
//! every acknowledged revision; it is killed with SIGKILL at a random moment, the database is
//! reopened, and every acknowledged write must be there, in a database that passes SQLite's
//! integrity check. Twenty rounds on the same database, so recovery is also tested on a file
//! that has crashed before.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use barge_store::{SqliteOptions, SqliteStore, Store};
use bytes::Bytes;

const ROUNDS: u32 = 20;
const WRITERS: usize = 8;
const DB_ENV: &str = "BARGE_CRASH_TEST_DB";
const ROUND_ENV: &str = "BARGE_CRASH_TEST_ROUND";

/// The child: writes until killed. It only runs when the crash test starts it.
#[test]
#[ignore = "the child process of sqlite_keeps_every_acknowledged_write_across_kill_9"]
fn crash_writer() {
    let (Ok(db), Ok(round)) = (std::env::var(DB_ENV), std::env::var(ROUND_ENV)) else {
        panic!("run by the crash test only ({DB_ENV} and {ROUND_ENV} unset)");
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let store = SqliteStore::open(SqliteOptions::new(db)).unwrap();
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let store = store.clone();
            let round = round.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0.. {
                    let key = format!("/crash/{round}/{w}/{i}");
                    let value = Bytes::from(format!("{round}-{w}-{i}").repeat(20));
                    let kv = store.create(&key, value, None).await.unwrap();
                    // Printed only once the write is acknowledged.
                    println!("ack {key} {}", kv.mod_revision);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

fn random_below(n: u64) -> u64 {
    RandomState::new().hash_one(std::time::SystemTime::now()) % n
}

#[test]
fn sqlite_keeps_every_acknowledged_write_across_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut last_revision = 0;
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash::crash_writer", "--ignored", "--nocapture"])
            .env(DB_ENV, &db)
            .env(ROUND_ENV, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(ack) = line.strip_prefix("ack ") {
                    let (key, rev) = ack.split_once(' ').unwrap();
                    let _ = tx.send((key.to_owned(), rev.parse::<i64>().unwrap()));
                }
            }
        });
        // Let it get going, then kill it at a random moment.
        let first = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the writer acknowledges writes");
        std::thread::sleep(Duration::from_millis(20 + random_below(300)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        let acked: Vec<(String, i64)> = std::iter::once(first).chain(rx.try_iter()).collect();

        let (current, integrity) = runtime.block_on(async {
            let store = SqliteStore::open(SqliteOptions::new(&db)).unwrap();
            for (key, rev) in &acked {
                let kv = store.get(key, None).await.unwrap().kv;
                let kv = kv.unwrap_or_else(|| panic!("round {round}: acknowledged {key} lost"));
                assert_eq!(kv.mod_revision, *rev, "round {round}: {key}");
            }
            let current = store.current_revision().await.unwrap();
            (current, store.integrity_check().await.unwrap())
        });
        assert_eq!(integrity, "ok", "round {round}");
        let max_acked = acked.iter().map(|(_, r)| *r).max().unwrap();
        assert!(
            current >= max_acked && max_acked > last_revision,
            "round {round}: revisions"
        );
        last_revision = current;
        eprintln!(
            "round {round}: {} acknowledged writes kept, revision {current}",
            acked.len()
        );
    }
}
