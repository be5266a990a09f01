//! A child process for the SQLite multi-process and SIGKILL tests.
//!
//! ```text
//! sqlite-writer PATH PREFIX COUNT CONCURRENCY [--wait-for-go] [--increment]
//! ```
//!
//! Opens the store at `PATH` (default options: `synchronous=FULL`), prints
//! `ready`, optionally waits for a line on stdin, then writes the keys
//! `PREFIX/0`, `PREFIX/1`, … (`COUNT` of them, or without end if `COUNT` is 0)
//! from `CONCURRENCY` tasks. Each key is printed on its own line (and flushed)
//! only after its `set` returned `Ok`; `done` follows the last one. The value of
//! a key is [`value_for`], so the parent can check what it reads.
//!
//! With `--increment`, `PREFIX` is instead the key of a decimal counter (which
//! must exist): each of the `CONCURRENCY` tasks adds 1 to it `COUNT` times by
//! read-modify-write (`get_entry`, then `set_if_version` on the version read,
//! again on `Conflict`); `done` follows.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use flowstore_core::{ErrorKind, Key, Store, StoreExt};
use flowstore_sqlite::SqliteStore;

/// The value written under `key`: its bytes repeated to 1 KiB. (The tests
/// compute the same.)
fn value_for(key: &str) -> Vec<u8> {
    key.bytes().cycle().take(1024).collect()
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // The parent may be gone (it killed us, or gave up): nothing to do then.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: sqlite-writer PATH PREFIX COUNT CONCURRENCY [--wait-for-go] [--increment]";
    let [path, prefix, count, concurrency, rest @ ..] = args.as_slice() else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let (Ok(count), Ok(concurrency)) = (count.parse::<u64>(), concurrency.parse::<u64>()) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let wait_for_go = rest.iter().any(|arg| arg == "--wait-for-go");
    let increment = rest.iter().any(|arg| arg == "--increment");
    let concurrency = concurrency.max(1);

    let store = match SqliteStore::open(path).await {
        Ok(store) => store,
        Err(err) => {
            eprintln!("sqlite-writer: {}", err.to_one_line());
            return ExitCode::from(2);
        }
    };
    say("ready");
    if wait_for_go {
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    }

    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let store = store.clone();
            let prefix = prefix.clone();
            tokio::spawn(async move {
                if increment {
                    let key = Key::new(prefix.as_str()).expect("valid key");
                    for _ in 0..count {
                        add_one(&store, &key).await?;
                    }
                    return Ok(());
                }
                let mut i = task;
                while count == 0 || i < count {
                    let name = format!("{prefix}/{i}");
                    let key = Key::new(name.as_str()).expect("valid key");
                    store.set(&key, &value_for(&name), None).await?;
                    say(&name);
                    i += concurrency;
                }
                Ok::<(), flowstore_core::Error>(())
            })
        })
        .collect();
    for task in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                eprintln!("sqlite-writer: {}", err.to_one_line());
                return ExitCode::from(2);
            }
            Err(err) => {
                eprintln!("sqlite-writer: a task failed: {err}");
                return ExitCode::from(2);
            }
        }
    }
    say("done");
    ExitCode::SUCCESS
}

/// Adds 1 to the decimal counter under `key`, again and again until no other
/// writer changed it between the read and the conditional write.
async fn add_one(store: &SqliteStore, key: &Key) -> flowstore_core::Result<()> {
    loop {
        let entry = store
            .get_entry(key)
            .await?
            .ok_or_else(|| flowstore_core::Error::invalid_argument("the counter is absent"))?;
        let count: u64 = std::str::from_utf8(&entry.value)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| {
                flowstore_core::Error::invalid_argument("the counter is not a number")
            })?;
        let next = (count + 1).to_string();
        match store
            .set_if_version(key, next.as_bytes(), None, &entry.version)
            .await
        {
            Ok(_) => return Ok(()),
            Err(err) if err.kind() == ErrorKind::Conflict => continue,
            Err(err) => return Err(err),
        }
    }
}
