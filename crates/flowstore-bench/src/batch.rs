//! `flowstore-bench batch` (issue 13 §4): a batch read of N keys (`get_many`)
//! against N sequential `get`s of the same keys on the same store, in rounds
//! that alternate which side goes first, so that drift on a shared machine
//! falls on both sides alike. The figure is the median, over rounds, of the
//! ratio of keys read per second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use flowstore::{Key, Namespace, OpenOptions, Store};
use flowstore_cli::Failure;
use flowstore_cli::bench;

/// Options of `flowstore-bench batch`.
#[derive(Debug, Args)]
pub(crate) struct BatchArgs {
    /// The store (any URL `flowstore` opens).
    #[arg(long, value_name = "URL")]
    store: String,

    /// The namespace [default: the URL's ?namespace=, else `flowstore-bench`].
    #[arg(long, value_name = "NS")]
    namespace: Option<String>,

    /// Keys per batch (and per sequential pass).
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    keys: u32,

    /// Bytes per value.
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    value_size: usize,

    /// How long each side runs per round.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    duration: Duration,

    /// Rounds; each runs both sides.
    #[arg(long, value_name = "R", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    runs: u32,

    /// One JSON object on stdout instead of the text report.
    #[arg(long)]
    json: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    flowstore::parse_duration(text).map_err(|err| err.to_string())
}

/// Keys read per second by one side of a round.
async fn rate<F, Fut>(duration: Duration, keys: usize, mut pass: F) -> Result<f64, Failure>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), Failure>>,
{
    let start = Instant::now();
    let mut passes = 0u64;
    while start.elapsed() < duration {
        pass().await?;
        passes += 1;
    }
    Ok((passes * keys as u64) as f64 / start.elapsed().as_secs_f64())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

pub(crate) async fn run(args: BatchArgs) -> Result<(), Failure> {
    let explicit = args
        .namespace
        .as_deref()
        .map(|ns| Namespace::new(ns).map_err(|err| Failure::store("--namespace", &err)))
        .transpose()?;
    let mut options = OpenOptions::new();
    if let Some(namespace) = bench::namespace_for(&args.store, explicit)? {
        options = options.namespace(namespace);
    }
    let store: Arc<dyn Store> = flowstore::open_with(&args.store, &options)
        .await
        .map_err(|err| Failure::store("cannot open the store", &err))?;
    let keys: Vec<Key> = (0..args.keys)
        .map(|i| Key::new(format!("batch/{i:04}")).expect("a valid key"))
        .collect();
    let value = vec![b'v'; args.value_size];
    for key in &keys {
        store
            .set(key, &value, None)
            .await
            .map_err(|err| Failure::store("bench: writing the keys", &err))?;
    }
    let sequential = || async {
        for key in &keys {
            let found = store
                .get(key)
                .await
                .map_err(|err| Failure::store("bench: get", &err))?;
            if found.is_none() {
                return Err(Failure::new("bench: a key written for the run is absent"));
            }
        }
        Ok(())
    };
    let batched = || async {
        let values = store
            .get_many(&keys)
            .await
            .map_err(|err| Failure::store("bench: get_many", &err))?;
        if values.iter().any(Option::is_none) {
            return Err(Failure::new("bench: a key written for the run is absent"));
        }
        Ok(())
    };
    let n = keys.len();
    let (mut ratios, mut sequential_rates, mut batch_rates) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..args.runs {
        let (seq, batch) = if round % 2 == 0 {
            let seq = rate(args.duration, n, sequential).await?;
            (seq, rate(args.duration, n, batched).await?)
        } else {
            let batch = rate(args.duration, n, batched).await?;
            (rate(args.duration, n, sequential).await?, batch)
        };
        if !args.json {
            eprintln!(
                "round {}: sequential {seq:.0} keys/s, batch {batch:.0} keys/s, {:.1}x",
                round + 1,
                batch / seq
            );
        }
        ratios.push(batch / seq);
        sequential_rates.push(seq);
        batch_rates.push(batch);
    }
    let _ = store.delete_many(&keys).await;
    let (ratio, seq, batch) = (
        median(&mut ratios),
        median(&mut sequential_rates),
        median(&mut batch_rates),
    );
    if args.json {
        println!(
            "{{\"keys\":{n},\"value_size\":{},\"runs\":{},\"sequential_keys_per_sec\":{seq:.0},\"batch_keys_per_sec\":{batch:.0},\"ratio\":{ratio:.2}}}",
            args.value_size, args.runs
        );
    } else {
        println!(
            "batch get of {n} keys: {batch:.0} keys/s; {n} sequential gets: {seq:.0} keys/s; ratio {ratio:.1}x (median of {} rounds)",
            args.runs
        );
    }
    Ok(())
}
