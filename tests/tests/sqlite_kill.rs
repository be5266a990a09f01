//! Every write a process reported as done survives that process being killed
//! with SIGKILL at a random moment.
//!
//! A child (`sqlite-writer`, a binary of this package) writes keys from eight
//! tasks and prints each key only after its `set` returned. The parent kills it
//! (`Child::kill` is SIGKILL on Unix) at a random moment — most rounds while it
//! writes, some while it is still opening (and recovering) the file — then
//! checks that every key the child printed is present with its value. The same
//! file is used for every round, so each child also opens a file whose previous
//! writer died mid-transaction.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use flowstore_core::{Key, Store};
use flowstore_sqlite::SqliteStore;
use flowstore_sqlite::rusqlite::Connection;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const WRITER: &str = env!("CARGO_BIN_EXE_sqlite-writer");
/// Rounds that kill the child while it writes.
const KILLS_WHILE_WRITING: usize = 80;
/// Rounds that kill the child at a random moment soon after it starts (often
/// while it opens the file).
const KILLS_ANYWHERE: usize = 20;

/// The value `sqlite-writer` writes under `key`.
fn value_for(key: &str) -> Vec<u8> {
    key.bytes().cycle().take(1024).collect()
}

/// Starts a child writing `prefix/…` keys without end; its complete stdout lines
/// arrive on the returned channel.
fn start_writer(path: &std::path::Path, prefix: &str) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(WRITER)
        .arg(path)
        .arg(prefix)
        .arg("0")
        .arg("8")
        .stdout(Stdio::piped())
        .spawn()
        .expect("cannot start sqlite-writer");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let (lines, received) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        loop {
            line.clear();
            match stdout.read_line(&mut line) {
                // A line cut short by the kill was never completely reported.
                Ok(_) if line.ends_with('\n') => {
                    if lines.send(line.trim_end().to_string()).is_err() {
                        return;
                    }
                }
                _ => return,
            }
        }
    });
    (child, received)
}

#[test]
fn writes_reported_done_survive_sigkill() {
    let seed: u64 = rand::rng().random();
    println!("seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.db");
    let runtime = tokio::runtime::Runtime::new().unwrap();

    let mut rounds: Vec<bool> = (0..KILLS_WHILE_WRITING)
        .map(|_| true)
        .chain((0..KILLS_ANYWHERE).map(|_| false))
        .collect();
    // Interleave the two kinds of rounds.
    for i in (1..rounds.len()).rev() {
        rounds.swap(i, rng.random_range(0..=i));
    }

    let mut checked = 0usize;
    let mut killed_while_writing = 0usize;
    for (round, while_writing) in rounds.into_iter().enumerate() {
        let prefix = format!("r{round}");
        let (mut child, lines) = start_writer(&path, &prefix);
        if while_writing {
            // Wait for the first acknowledged write, then a random while longer.
            let first = lines.iter().find(|line| line != "ready");
            assert!(first.is_some(), "round {round}: the child wrote nothing");
            thread::sleep(Duration::from_micros(rng.random_range(0..40_000)));
        } else {
            thread::sleep(Duration::from_micros(rng.random_range(0..25_000)));
        }
        let still_running = child.try_wait().unwrap().is_none();
        child.kill().unwrap();
        child.wait().unwrap();
        if while_writing {
            assert!(still_running, "round {round}: the child stopped by itself");
            killed_while_writing += 1;
        }

        // Every line the child printed before it died, including any still in
        // the pipe when it was killed.
        let reported: Vec<String> = lines
            .iter()
            .filter(|line| line.starts_with(&format!("{prefix}/")))
            .collect();
        runtime.block_on(async {
            // A new store each round: as a fresh process would, it opens a file
            // whose last writer was killed.
            let store = SqliteStore::open(&path).await.unwrap();
            for name in &reported {
                let value = store.get(&Key::new(name.as_str()).unwrap()).await.unwrap();
                assert!(
                    value == Some(value_for(name)),
                    "round {round}: {name} was reported written but is missing or wrong (seed {seed})"
                );
            }
        });
        checked += reported.len();
    }
    println!("{killed_while_writing} kills while writing, {checked} acknowledged writes checked");
    assert!(killed_while_writing >= 50);

    let conn = Connection::open(&path).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
