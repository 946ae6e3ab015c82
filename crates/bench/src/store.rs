//! `barge bench store`: the SQLite backend against a real etcd, side by side, on one workload.
//!
//! Both stores keep their data on the same filesystem and both fsync every acknowledged write.
//! The etcd server runs as a separate process on loopback, as it would in production; the SQLite
//! store runs inside the benchmark process, as it does inside `barge server`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use barge_store::{EtcdOptions, EtcdStore, RangeRequest, SqliteOptions, SqliteStore, Store};
use barge_store::{WatchItem, WatchRequest};
use bytes::Bytes;

use crate::percentile;

/// What to run; the defaults take about a minute on a 2-core machine.
#[derive(Clone, Debug)]
pub struct Options {
    /// Sequential creates (latency and single-writer throughput).
    pub sequential: usize,
    /// Concurrent writers for the throughput run.
    pub writers: usize,
    /// Creates per concurrent writer.
    pub writes_per_writer: usize,
    /// Concurrent readers for the get and range runs.
    pub readers: usize,
    pub gets: usize,
    pub ranges: usize,
    /// Keys per range.
    pub range_keys: usize,
    /// Value size of every write, in bytes (a typical Kubernetes object is a few KiB).
    pub value_size: usize,
    /// Writes observed by the watch latency runs.
    pub watch_writes: usize,
    /// Watchers in the fan-out run.
    pub watchers: usize,
    /// Where both stores keep their data (a temporary directory is made inside).
    pub dir: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            sequential: 2000,
            writers: 64,
            writes_per_writer: 100,
            readers: 16,
            gets: 50_000,
            ranges: 5_000,
            range_keys: 100,
            value_size: 1024,
            watch_writes: 300,
            watchers: 1000,
            dir: std::env::temp_dir(),
        }
    }
}

/// Whether a bigger figure is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Better {
    Higher,
    Lower,
}

#[derive(Clone, Debug)]
struct Figure {
    name: String,
    unit: &'static str,
    better: Better,
    value: f64,
}

#[derive(Debug, Default)]
struct Figures(Vec<Figure>);

impl Figures {
    fn latency(&mut self, name: &str, samples: &mut [Duration]) {
        for (label, p) in [("p50", 0.5), ("p99", 0.99)] {
            self.0.push(Figure {
                name: format!("{name} {label}"),
                unit: "ms",
                better: Better::Lower,
                value: percentile(samples, p).as_secs_f64() * 1e3,
            });
        }
    }

    fn rate(&mut self, name: &str, unit: &'static str, count: usize, elapsed: Duration) {
        self.0.push(Figure {
            name: name.to_owned(),
            unit,
            better: Better::Higher,
            value: count as f64 / elapsed.as_secs_f64(),
        });
    }
}

/// Runs the whole workload on both backends and prints the table.
pub async fn run(options: Options) -> Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("barge-bench-store-")
        .tempdir_in(&options.dir)
        .with_context(|| format!("cannot make a directory in {}", options.dir.display()))?;

    eprintln!("sqlite: {}", dir.path().join("bench.db").display());
    let sqlite = SqliteStore::open(SqliteOptions::new(dir.path().join("bench.db")))?;
    let sqlite_figures = workload(Arc::new(sqlite), &options).await?;

    let etcd = {
        let parent = dir.path().to_owned();
        tokio::task::spawn_blocking(move || barge_testkit::Etcd::start_in(&parent)).await??
    };
    eprintln!(
        "etcd: {} (etcd --version: {})",
        etcd.endpoint(),
        etcd_version()
    );
    let store = EtcdStore::connect(EtcdOptions::new(vec![etcd.endpoint().to_owned()])).await?;
    let etcd_figures = workload(Arc::new(store), &options).await?;
    drop(etcd);

    print_table(&options, &sqlite_figures, &etcd_figures);
    Ok(())
}

fn etcd_version() -> String {
    std::process::Command::new("etcd")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| {
            s.lines()
                .next()
                .map(|l| l.trim_start_matches("etcd Version: ").to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn print_table(options: &Options, sqlite: &Figures, etcd: &Figures) {
    println!(
        "store benchmark: {} B values, {} concurrent writers, {} readers, {} watchers",
        options.value_size, options.writers, options.readers, options.watchers
    );
    println!(
        "{:<46} {:>12} {:>12} {:>8}  better",
        "figure", "sqlite", "etcd", "ratio"
    );
    for (s, e) in sqlite.0.iter().zip(&etcd.0) {
        // The ratio is always "how many times better sqlite is" (> 1: sqlite wins).
        let ratio = match s.better {
            Better::Higher => s.value / e.value,
            // Sub-microsecond latencies count as 1 µs, so a zero does not divide.
            Better::Lower => e.value.max(1e-3) / s.value.max(1e-3),
        };
        let winner = if ratio >= 1.0 { "sqlite" } else { "etcd" };
        println!(
            "{:<46} {:>12.3} {:>12.3} {:>7.2}x  {winner}",
            format!("{} ({})", s.name, s.unit),
            s.value,
            e.value,
            ratio
        );
    }
}

async fn workload(store: Arc<dyn Store>, o: &Options) -> Result<Figures> {
    let mut f = Figures::default();
    let value = Bytes::from(vec![b'x'; o.value_size]);

    // Sequential creates: latency of each, and the single-writer throughput.
    let mut samples = Vec::with_capacity(o.sequential);
    let started = Instant::now();
    for i in 0..o.sequential {
        let t = Instant::now();
        store
            .create(&format!("/seq/{i:06}"), value.clone(), None)
            .await?;
        samples.push(t.elapsed());
    }
    let elapsed = started.elapsed();
    f.latency("sequential create", &mut samples);
    f.rate(
        "create throughput, 1 writer",
        "writes/s",
        o.sequential,
        elapsed,
    );

    // Concurrent creates.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..o.writers {
        let (store, value, n) = (store.clone(), value.clone(), o.writes_per_writer);
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(n);
            for i in 0..n {
                let t = Instant::now();
                store
                    .create(&format!("/conc/{w}/{i}"), value.clone(), None)
                    .await?;
                samples.push(t.elapsed());
            }
            anyhow::Ok(samples)
        }));
    }
    let mut samples = Vec::new();
    for t in tasks {
        samples.extend(t.await??);
    }
    let elapsed = started.elapsed();
    let name = format!("create throughput, {} writers", o.writers);
    f.rate(&name, "writes/s", o.writers * o.writes_per_writer, elapsed);
    f.latency(
        &format!("create latency, {} writers", o.writers),
        &mut samples,
    );

    // Gets of existing keys.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for r in 0..o.readers {
        let (store, n, keys) = (store.clone(), o.gets / o.readers, o.sequential.max(1));
        tasks.push(tokio::spawn(async move {
            for i in 0..n {
                let key = format!("/seq/{:06}", (i * 7919 + r * 104_729) % keys);
                anyhow::ensure!(store.get(&key, None).await?.kv.is_some(), "{key} missing");
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let gets = o.gets / o.readers * o.readers;
    f.rate("get throughput", "gets/s", gets, started.elapsed());

    // Ranges over a prefix.
    for i in 0..o.range_keys {
        store
            .create(&format!("/range/{i:04}"), value.clone(), None)
            .await?;
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..o.readers {
        let (store, n, expected) = (store.clone(), o.ranges / o.readers, o.range_keys);
        tasks.push(tokio::spawn(async move {
            for _ in 0..n {
                let got = store
                    .range(RangeRequest::prefix("/range/"))
                    .await?
                    .kvs
                    .len();
                anyhow::ensure!(got == expected, "range returned {got} keys, not {expected}");
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let ranges = o.ranges / o.readers * o.readers;
    let name = format!("range throughput, {} keys each", o.range_keys);
    f.rate(&name, "ranges/s", ranges, started.elapsed());

    // Watch delivery.
    for watchers in [1, o.watchers] {
        let (mut from_ack, mut from_issue) = watch_latency(&store, watchers, o, &value).await?;
        f.latency(
            &format!("watch, {watchers} watcher(s), ack→event"),
            &mut from_ack,
        );
        f.latency(
            &format!("watch, {watchers} watcher(s), write→event"),
            &mut from_issue,
        );
    }
    Ok(f)
}

/// Delivery latency of `o.watch_writes` sequential writes to each of `watchers` watchers: from
/// the writer's acknowledgement (clamped at zero when the event arrived first) and from the
/// moment the write was issued.
async fn watch_latency(
    store: &Arc<dyn Store>,
    watchers: usize,
    o: &Options,
    value: &Bytes,
) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let prefix = format!("/watch{watchers}/");
    let start = store.current_revision().await?;
    let writes = o.watch_writes;
    let mut tasks = Vec::new();
    for _ in 0..watchers {
        let request = WatchRequest {
            prefix: prefix.clone(),
            after: Some(start),
            progress_interval: None,
        };
        let mut watch = store.watch(request).await?;
        tasks.push(tokio::spawn(async move {
            let mut received = Vec::with_capacity(writes);
            while received.len() < writes {
                match watch.next().await {
                    Some(Ok(WatchItem::Event(e))) => received.push((e.revision(), Instant::now())),
                    Some(Ok(WatchItem::Progress(_))) => {}
                    Some(Err(e)) => return Err(e.into()),
                    None => anyhow::bail!("watch ended early"),
                }
            }
            anyhow::Ok(received)
        }));
    }
    let mut written = std::collections::HashMap::with_capacity(writes);
    for i in 0..writes {
        let issued = Instant::now();
        let kv = store
            .create(&format!("{prefix}{i:06}"), value.clone(), None)
            .await?;
        written.insert(kv.mod_revision, (issued, Instant::now()));
        // Leave the watchers room to drain, so this measures delivery, not queueing.
        if watchers > 1 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let mut from_ack = Vec::with_capacity(writes * watchers);
    let mut from_issue = Vec::with_capacity(writes * watchers);
    for t in tasks {
        let received = tokio::time::timeout(Duration::from_secs(120), t)
            .await
            .context("watchers did not receive every event within 2 minutes")???;
        for (rev, at) in received {
            let (issued, acked) = written.get(&rev).context("an event for an unknown write")?;
            from_ack.push(at.saturating_duration_since(*acked));
            from_issue.push(at.saturating_duration_since(*issued));
        }
    }
    Ok((from_ack, from_issue))
}
