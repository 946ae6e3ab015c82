//! `kubectl top pod|node`: the `metrics.k8s.io` API's PodMetrics and NodeMetrics as kubectl's
//! `TopCmdPrinter` prints them (CPU in millicores, memory in MiB, a node's share of its
//! allocatable), `metrics not available yet` while there are none.

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams};
use serde_json::Value;

use super::Session;
use super::rollout::tabbed;
use crate::context::GlobalArgs;
use crate::error::{Error, Result};

const METRICS: &str = "/apis/metrics.k8s.io/v1beta1";

#[derive(Debug, clap::Subcommand)]
pub enum Commands {
    /// Display resource (CPU/memory) usage of pods.
    #[command(visible_aliases = ["pods", "po"])]
    Pod(PodArgs),
    /// Display resource (CPU/memory) usage of nodes.
    #[command(visible_aliases = ["nodes", "no"])]
    Node(NodeArgs),
}

#[derive(Debug, clap::Args)]
pub struct PodArgs {
    /// A pod's name.
    pub name: Option<String>,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// List the requested object(s) across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// If present, print usage of containers within a pod.
    #[arg(long)]
    pub containers: bool,
    /// If present, print output without headers.
    #[arg(long)]
    pub no_headers: bool,
    /// If non-empty, sort pods list using specified field: 'cpu' or 'memory'.
    #[arg(long, default_value = "")]
    pub sort_by: String,
}

#[derive(Debug, clap::Args)]
pub struct NodeArgs {
    /// A node's name.
    pub name: Option<String>,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// If present, print output without headers.
    #[arg(long)]
    pub no_headers: bool,
    /// If non-empty, sort nodes list using specified field: 'cpu' or 'memory'.
    #[arg(long, default_value = "")]
    pub sort_by: String,
    /// Print node resources based on Capacity instead of Allocatable(default) of the nodes.
    #[arg(long)]
    pub show_capacity: bool,
}

pub async fn run(cmd: Commands, global: &GlobalArgs) -> Result<()> {
    let session = Session::new(global).await?;
    match cmd {
        Commands::Pod(a) => pods(&session, &a).await,
        Commands::Node(a) => nodes(&session, &a).await,
    }
}

/// A quantity in billionths of its unit (`250m` → 250_000_000), rounded up.
pub fn nano(quantity: &str) -> Option<i128> {
    let q = quantity.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let negative = number.starts_with('-');
    let number = number.trim_start_matches(['+', '-']);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let digits: i128 = format!("{whole}{fraction}").parse().ok()?;
    let decimals = u32::try_from(fraction.len()).ok()?;
    // value = digits / 10^decimals * 2^binary * 10^exp; in nano: * 10^9.
    let (binary, exp): (u32, i32) = match suffix {
        "" => (0, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        s if s.starts_with(['e', 'E']) => (0, s[1..].parse().ok()?),
        _ => return None,
    };
    let mut numerator = digits.checked_mul(1i128 << binary)?;
    let mut denominator: i128 = 10i128.checked_pow(decimals)?;
    let scale = exp + 9;
    if scale >= 0 {
        numerator = numerator.checked_mul(10i128.checked_pow(scale.unsigned_abs())?)?;
    } else {
        denominator = denominator.checked_mul(10i128.checked_pow(scale.unsigned_abs())?)?;
    }
    let value = (numerator + denominator - 1) / denominator;
    Some(if negative { -value } else { value })
}

fn milli(q: &Value) -> i128 {
    q.as_str()
        .and_then(nano)
        .map_or(0, |n| (n + 999_999).div_euclid(1_000_000))
}

fn units(q: &Value) -> i128 {
    q.as_str()
        .and_then(nano)
        .map_or(0, |n| (n + 999_999_999).div_euclid(1_000_000_000))
}

/// A pod's namespace and name, and its containers' names, millicores and bytes.
type PodUsage = (String, String, Vec<(String, i128, i128)>);

/// A duration as Go prints one (`17m29.221270659s`, `1h0m5s`, `1.5s`).
fn go_duration_string(nanos: i128) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    if n < 1_000_000_000 {
        let (unit, scale) = match n {
            0..1_000 => return format!("{sign}{n}ns"),
            1_000..1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{sign}{}{unit}", decimal(n, scale));
    }
    let hours = n / 3_600_000_000_000;
    let minutes = n / 60_000_000_000 % 60;
    let seconds = decimal(n % 60_000_000_000, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{sign}{seconds}s"),
        (0, m) => format!("{sign}{m}m{seconds}s"),
        (h, m) => format!("{sign}{h}h{m}m{seconds}s"),
    }
}

/// `n / scale` with its fraction, trailing zeros dropped.
fn decimal(n: u128, scale: u128) -> String {
    let whole = n / scale;
    let fraction = n % scale;
    if fraction == 0 {
        return whole.to_string();
    }
    let width = scale.to_string().len() - 1;
    let digits = format!("{fraction:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// `12m`, `30Mi`: how kubectl top prints usage.
fn usage_cells(cpu_milli: i128, memory_bytes: i128) -> (String, String) {
    (
        format!("{cpu_milli}m"),
        format!("{}Mi", memory_bytes / (1024 * 1024)),
    )
}

/// Every row with an empty cell after it: kubectl's top tables end each cell with a tab, so the
/// last column is padded too.
fn table(rows: Vec<Vec<String>>) -> String {
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|mut r| {
            r.push(String::new());
            r
        })
        .collect();
    tabbed(&rows)
}

async fn list_metrics(session: &Session, path: &str, selector: Option<&str>) -> Result<Value> {
    let mut uri = format!("{METRICS}/{path}");
    if let Some(s) = selector {
        uri.push_str(&format!("?labelSelector={}", encode(s)));
    }
    let req = http::Request::get(uri)
        .body(Vec::new())
        .map_err(|e| Error::client(e.to_string()))?;
    Ok(session.ctx.client.request::<Value>(req).await?)
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn sort_rows<T>(
    items: &mut [T],
    sort_by: &str,
    cpu: impl Fn(&T) -> i128,
    mem: impl Fn(&T) -> i128,
) {
    match sort_by {
        "cpu" => items.sort_by_key(|i| std::cmp::Reverse(cpu(i))),
        "memory" => items.sort_by_key(|i| std::cmp::Reverse(mem(i))),
        _ => {}
    }
}

async fn pods(session: &Session, args: &PodArgs) -> Result<()> {
    let ns = &session.ctx.namespace;
    let items: Vec<Value> = match &args.name {
        Some(name) => {
            vec![list_metrics(session, &format!("namespaces/{ns}/pods/{name}"), None).await?]
        }
        None => {
            let path = if args.all_namespaces {
                "pods".to_owned()
            } else {
                format!("namespaces/{ns}/pods")
            };
            let list = list_metrics(session, &path, args.selector.as_deref()).await?;
            list["items"].as_array().cloned().unwrap_or_default()
        }
    };
    if items.is_empty() {
        let pods: Api<Pod> = if args.all_namespaces {
            Api::all(session.ctx.client.clone())
        } else {
            Api::namespaced(session.ctx.client.clone(), ns)
        };
        let mut lp = ListParams::default();
        if let Some(s) = &args.selector {
            lp = lp.labels(s);
        }
        let found = match &args.name {
            Some(name) => vec![pods.get(name).await?],
            None => pods.list(&lp).await?.items,
        };
        if !found.is_empty() {
            // Pods older than two minutes should have metrics by now; kubectl names the first.
            let now = Timestamp::now();
            for pod in &found {
                let Some(created) = &pod.metadata.creation_timestamp else {
                    continue;
                };
                let age = now.duration_since(created.0);
                if age.as_secs() > 120 {
                    return Err(Error::client(format!(
                        "Metrics not available for pod {}/{}, age: {}",
                        pod.metadata.namespace.as_deref().unwrap_or_default(),
                        pod.metadata.name.as_deref().unwrap_or_default(),
                        go_duration_string(age.as_nanos())
                    )));
                }
            }
            return Err(Error::client("metrics not available yet"));
        }
        if args.all_namespaces {
            eprintln!("No resources found");
        } else {
            eprintln!("No resources found in {ns} namespace.");
        }
        return Ok(());
    }
    // Per pod: its containers' (name, cpu, memory).
    let mut pods: Vec<PodUsage> = items
        .iter()
        .map(|m| {
            let containers = m["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap_or_default().to_owned(),
                        milli(&c["usage"]["cpu"]),
                        units(&c["usage"]["memory"]),
                    )
                })
                .collect();
            (
                m["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                m["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                containers,
            )
        })
        .collect();
    let total = |p: &PodUsage, i: usize| -> i128 {
        p.2.iter().map(|c| if i == 0 { c.1 } else { c.2 }).sum()
    };
    if args.all_namespaces && args.sort_by.is_empty() {
        pods.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    }
    sort_rows(&mut pods, &args.sort_by, |p| total(p, 0), |p| total(p, 1));
    let mut rows = Vec::new();
    if !args.no_headers {
        let mut header = Vec::new();
        if args.all_namespaces {
            header.push("NAMESPACE".to_owned());
        }
        if args.containers {
            header.push("POD".to_owned());
        }
        header.extend(["NAME", "CPU(cores)", "MEMORY(bytes)"].map(str::to_owned));
        rows.push(header);
    }
    for p in &pods {
        let lead = |row: &mut Vec<String>| {
            if args.all_namespaces {
                row.push(p.0.clone());
            }
        };
        if args.containers {
            for c in &p.2 {
                let mut row = Vec::new();
                lead(&mut row);
                let (cpu, mem) = usage_cells(c.1, c.2);
                row.extend([p.1.clone(), c.0.clone(), cpu, mem]);
                rows.push(row);
            }
        } else {
            let mut row = Vec::new();
            lead(&mut row);
            let (cpu, mem) = usage_cells(total(p, 0), total(p, 1));
            row.extend([p.1.clone(), cpu, mem]);
            rows.push(row);
        }
    }
    print!("{}", table(rows));
    Ok(())
}

async fn nodes(session: &Session, args: &NodeArgs) -> Result<()> {
    let items: Vec<Value> = match &args.name {
        Some(name) => vec![list_metrics(session, &format!("nodes/{name}"), None).await?],
        None => {
            let list = list_metrics(session, "nodes", args.selector.as_deref()).await?;
            list["items"].as_array().cloned().unwrap_or_default()
        }
    };
    if items.is_empty() {
        return Err(Error::client("metrics not available yet"));
    }
    let api: Api<Node> = Api::all(session.ctx.client.clone());
    let nodes: Vec<Value> = match &args.name {
        Some(name) => vec![serde_json::to_value(api.get(name).await?)?],
        None => {
            let mut lp = ListParams::default();
            if let Some(s) = &args.selector {
                lp = lp.labels(s);
            }
            api.list(&lp)
                .await?
                .items
                .into_iter()
                .map(serde_json::to_value)
                .collect::<std::result::Result<_, _>>()?
        }
    };
    let field = if args.show_capacity {
        "capacity"
    } else {
        "allocatable"
    };
    let mut metrics: Vec<(String, i128, i128)> = items
        .iter()
        .map(|m| {
            (
                m["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                milli(&m["usage"]["cpu"]),
                units(&m["usage"]["memory"]),
            )
        })
        .collect();
    metrics.sort_by(|a, b| a.0.cmp(&b.0));
    sort_rows(&mut metrics, &args.sort_by, |m| m.1, |m| m.2);
    let mut rows = Vec::new();
    if !args.no_headers {
        rows.push(
            ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
                .map(str::to_owned)
                .to_vec(),
        );
    }
    let available = |name: &str| {
        nodes
            .iter()
            .find(|n| n["metadata"]["name"] == name)
            .map(|n| n["status"][field].clone())
    };
    let percent = |used_milli: i128, total: &Value| -> Option<String> {
        let total = milli(total);
        if total == 0 {
            return Some("0%".to_owned());
        }
        Some(format!(
            "{}%",
            (used_milli as f64 / total as f64 * 100.0) as i64
        ))
    };
    for (name, cpu, memory) in &metrics {
        let (cpu_cell, mem_cell) = usage_cells(*cpu, *memory);
        let mut row = vec![name.clone(), cpu_cell];
        let avail = available(name);
        if let Some(a) = &avail {
            row.extend(percent(*cpu, &a["cpu"]));
        }
        row.push(mem_cell);
        if let Some(a) = &avail {
            row.extend(percent(memory * 1000, &a["memory"]));
        }
        rows.push(row);
    }
    for n in &nodes {
        let name = n["metadata"]["name"].as_str().unwrap_or_default();
        if !metrics.iter().any(|m| m.0 == name) {
            let unknown = "<unknown>".to_owned();
            rows.push(vec![
                name.to_owned(),
                unknown.clone(),
                unknown.clone(),
                unknown.clone(),
                unknown,
            ]);
        }
    }
    print!("{}", table(rows));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_parse_to_nano_units() {
        assert_eq!(nano("250m"), Some(250_000_000));
        assert_eq!(nano("1"), Some(1_000_000_000));
        assert_eq!(nano("123456n"), Some(123_456));
        assert_eq!(nano("1Ki"), Some(1024 * 1_000_000_000));
        assert_eq!(nano("1.5Gi"), Some(1_610_612_736 * 1_000_000_000));
        assert_eq!(nano("2e3"), Some(2_000 * 1_000_000_000));
        assert_eq!(nano("x"), None);
        // Rounded up, as Go's MilliValue and Value round.
        assert_eq!(milli(&json!("123456n")), 1);
        assert_eq!(units(&json!("1500m")), 2);
        assert_eq!(usage_cells(3, 52_428_800), ("3m".into(), "50Mi".into()));
    }

    #[test]
    fn durations_print_as_go_prints_them() {
        assert_eq!(go_duration_string(1_049_221_270_659), "17m29.221270659s");
        assert_eq!(go_duration_string(3_605_000_000_000), "1h0m5s");
        assert_eq!(go_duration_string(1_500_000_000), "1.5s");
        assert_eq!(go_duration_string(2_500_000), "2.5ms");
        assert_eq!(go_duration_string(0), "0s");
    }

    #[test]
    fn top_tables_pad_every_column() {
        let rows = vec![
            vec!["NAME".to_owned(), "CPU(cores)".to_owned()],
            vec!["web".to_owned(), "1m".to_owned()],
        ];
        assert_eq!(table(rows), "NAME  CPU(cores)  \nweb   1m          \n");
        assert_eq!(
            encode("app=web,tier in (a)"),
            "app%3Dweb%2Ctier%20in%20%28a%29"
        );
    }
}
