//! Figures and how they are printed: a name, a value, a unit and, where the issue sets one, a
//! goal marked met or not. Benchmarks print figures and never assert them.

use std::time::Duration;

use anyhow::{Context, Result};

use crate::percentile;

pub(crate) const MIB: f64 = 1024.0 * 1024.0;

/// A process's resident memory now and at its peak, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Memory {
    pub(crate) rss: u64,
    pub(crate) peak: u64,
    /// Of `rss`: anonymous pages (heap, stacks), and pages of files (the binary's code).
    pub(crate) anonymous: u64,
    pub(crate) file: u64,
}

impl Memory {
    pub(crate) fn of(pid: u32) -> Result<Self> {
        let path = format!("/proc/{pid}/status");
        let status =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        Self::parse(&status).with_context(|| format!("no VmRSS or VmHWM in {path}"))
    }

    /// Reads `VmRSS` and `VmHWM` (peak RSS) from the text of `/proc/<pid>/status`.
    pub(crate) fn parse(status: &str) -> Option<Self> {
        let field = |name: &str| -> Option<u64> {
            let line = status.lines().find(|l| l.starts_with(name))?;
            let value = line.strip_prefix(name)?.strip_prefix(':')?;
            let kib = value
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse::<u64>()
                .ok()?;
            Some(kib * 1024)
        };
        Some(Self {
            rss: field("VmRSS")?,
            peak: field("VmHWM")?,
            anonymous: field("RssAnon").unwrap_or(0),
            file: field("RssFile").unwrap_or(0),
        })
    }
}

/// The CPU time a process (all its threads) has used, user and system.
pub(crate) fn cpu_time(pid: u32) -> Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    parse_cpu_time(&stat).with_context(|| format!("no utime or stime in {path}"))
}

/// `utime` + `stime` from the text of `/proc/<pid>/stat`: fields 14 and 15, counted after the
/// command name (which may hold spaces and parentheses, so after its last `)`), in clock ticks
/// of 1/100 s (`USER_HZ`, fixed at 100 in the kernel's ABI on every architecture we run on).
fn parse_cpu_time(stat: &str) -> Option<Duration> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// 100000 → "100,000", for figure names.
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A goal from the issue: the figure must be at or above, or below, a threshold.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Goal {
    at_least: bool,
    threshold: f64,
}

impl Goal {
    pub(crate) fn above(threshold: f64) -> Self {
        Self {
            at_least: true,
            threshold,
        }
    }

    pub(crate) fn below(threshold: f64) -> Self {
        Self {
            at_least: false,
            threshold,
        }
    }

    pub(crate) fn met(&self, value: f64) -> bool {
        if self.at_least {
            value >= self.threshold
        } else {
            value < self.threshold
        }
    }

    pub(crate) fn describe(&self, value: f64) -> String {
        let sign = if self.at_least { "≥" } else { "<" };
        let verdict = if self.met(value) { "met" } else { "NOT MET" };
        format!("{sign} {}: {verdict}", self.threshold)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Figure {
    pub(crate) name: String,
    pub(crate) value: f64,
    pub(crate) unit: &'static str,
    pub(crate) goal: Option<Goal>,
}

#[derive(Debug, Default)]
pub(crate) struct Figures(pub(crate) Vec<Figure>);

impl Figures {
    pub(crate) fn push(&mut self, name: &str, value: f64, unit: &'static str, goal: Option<Goal>) {
        self.0.push(Figure {
            name: name.to_owned(),
            value,
            unit,
            goal,
        });
    }

    /// p50 and p99; a goal applies to the p99.
    pub(crate) fn latency(&mut self, name: &str, samples: &mut [Duration], p99_goal: Option<Goal>) {
        let p50 = ms(percentile(samples, 0.5));
        let p99 = ms(percentile(samples, 0.99));
        self.push(&format!("{name} p50"), p50, "ms", None);
        self.push(&format!("{name} p99"), p99, "ms", p99_goal);
    }

    pub(crate) fn rate(
        &mut self,
        name: &str,
        unit: &'static str,
        count: usize,
        elapsed: Duration,
        goal: Option<Goal>,
    ) {
        let value = count as f64 / elapsed.as_secs_f64();
        self.push(name, value, unit, goal);
    }

    /// A process's resident memory now, when its pid is known.
    pub(crate) fn rss(&mut self, name: &str, pid: Option<u32>) -> Result<()> {
        if let Some(pid) = pid {
            self.push(name, Memory::of(pid)?.rss as f64 / MIB, "MiB", None);
        }
        Ok(())
    }
}

/// Prints the title line, then one line per figure with its goal's verdict.
pub(crate) fn print(title: &str, f: &Figures) {
    println!("{title}");
    println!("{:<50} {:>12}  {:<10} goal", "figure", "value", "unit");
    for fig in &f.0 {
        let goal = fig.goal.map(|g| g.describe(fig.value)).unwrap_or_default();
        println!(
            "{:<50} {:>12.3}  {:<10} {goal}",
            fig.name, fig.value, fig.unit
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rss_and_peak_from_proc_status() {
        let status = "Name:\tbarge\nVmPeak:\t  900000 kB\nVmHWM:\t   40960 kB\nVmRSS:\t   20480 kB\nRssAnon:\t 1 kB\nRssFile:\t 20479 kB\n";
        assert_eq!(
            Memory::parse(status),
            Some(Memory {
                rss: 20 * 1024 * 1024,
                peak: 40 * 1024 * 1024,
                anonymous: 1024,
                file: 20479 * 1024,
            })
        );
        // Kernel threads have no VmRSS line.
        assert_eq!(Memory::parse("Name:\tkthreadd\nVmHWM:\t0 kB\n"), None);
        assert!(Memory::of(std::process::id()).unwrap().rss > 0);
    }

    #[test]
    fn latency_figures_are_p50_and_p99_and_the_goal_applies_to_p99() {
        let mut f = Figures::default();
        let mut samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        f.latency("get", &mut samples, Some(Goal::below(50.0)));
        assert_eq!(f.0[0].name, "get p50");
        assert_eq!(f.0[0].value, 50.0);
        assert!(f.0[0].goal.is_none());
        assert_eq!(f.0[1].name, "get p99");
        assert_eq!(f.0[1].value, 99.0);
        assert_eq!(f.0[1].goal.unwrap().describe(f.0[1].value), "< 50: NOT MET");
        assert_eq!(Goal::above(3000.0).describe(3000.0), "≥ 3000: met");
    }

    #[test]
    fn rates_divide_by_the_wall_time() {
        let mut f = Figures::default();
        f.rate(
            "create",
            "creates/s",
            3000,
            Duration::from_millis(1500),
            None,
        );
        assert_eq!(f.0[0].value, 2000.0);
    }

    #[test]
    fn reads_cpu_time_from_proc_stat() {
        let stat =
            "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 1 2 3\n";
        assert_eq!(parse_cpu_time(stat), Some(Duration::from_millis(3250)));
        assert_eq!(parse_cpu_time("4242 (x) S 1"), None);
        cpu_time(std::process::id()).unwrap();
    }

    #[test]
    fn names_group_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(10_000), "10,000");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
