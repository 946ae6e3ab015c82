//! `GET /containerLogs/{namespace}/{pod}/{container}`: a container's log, read from the file
//! the runtime writes in the CRI log format (`<RFC 3339 time> <stdout|stderr> <F|P> <text>`, `P`
//! marking a partial line continued by the next record).
//!
//! As upstream (`pkg/kubelet/kuberuntime/logs/logs.go`, `kubelet_pods.go`): which container's
//! log is read follows the pod status (`validateContainerLogStatus`, with its messages:
//! `previous terminated container "c" in pod "p" not found`, `container "c" in pod "p" is
//! waiting to start: ContainerCreating`, ...); the log path comes from CRI `ContainerStatus`;
//! `tailLines` counts the file's last lines, `sinceSeconds`/`sinceTime` skip older records,
//! `limitBytes` cuts the output, `timestamps` prefixes each line with its time (always nine
//! fractional digits; a line split into partial records gets one), and `follow` keeps reading until the container is no longer running.
//! Differences: following polls the file every 200 ms (upstream waits on inotify with a 1 s
//! fallback) and asks the runtime whether the container still runs at most once a second; a
//! log file replaced under the same path (rotation) is reopened from its start, as upstream.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{ContainerState, ContainerStatusRequest};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use tokio::sync::mpsc;
use tonic::transport::Channel;

const POLL: Duration = Duration::from_millis(200);
const RUNNING_CHECK: Duration = Duration::from_secs(1);

/// What a log request asks for (`PodLogOptions` as the kubelet receives them).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogOptions {
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub tail_lines: Option<u64>,
    pub limit_bytes: Option<u64>,
    /// Records older than this are skipped (`sinceSeconds` or `sinceTime`, the later one).
    pub since: Option<Timestamp>,
}

fn truthy(v: &str) -> bool {
    !(v == "0" || v.eq_ignore_ascii_case("false"))
}

impl LogOptions {
    /// Parses the query; an error is the message of a 400.
    pub fn from_query(query: Option<&str>, now: Timestamp) -> Result<Self, String> {
        let mut o = LogOptions::default();
        let number = |k: &str, v: &str| {
            v.parse::<i64>()
                .map_err(|_| format!("invalid value {v:?} for {k}: must be an integer"))
        };
        for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match k.as_ref() {
                "follow" => o.follow = truthy(&v),
                "previous" => o.previous = truthy(&v),
                "timestamps" => o.timestamps = truthy(&v),
                "tailLines" => {
                    let n = number("tailLines", &v)?;
                    // Upstream reads a negative tail as "everything".
                    o.tail_lines = u64::try_from(n).ok();
                }
                "limitBytes" => {
                    let n = number("limitBytes", &v)?;
                    if n < 1 {
                        return Err(format!(
                            "limitBytes: Invalid value: {n}: must be greater than 0"
                        ));
                    }
                    o.limit_bytes = u64::try_from(n).ok();
                }
                "sinceSeconds" => {
                    let n = number("sinceSeconds", &v)?;
                    let since = now
                        .checked_sub(SignedDuration::from_secs(n))
                        .map_err(|_| format!("invalid value {v:?} for sinceSeconds"))?;
                    o.since = Some(o.since.map_or(since, |s| s.max(since)));
                }
                "sinceTime" => {
                    let t: Timestamp = v
                        .parse()
                        .map_err(|_| format!("invalid value {v:?} for sinceTime"))?;
                    o.since = Some(o.since.map_or(t, |s| s.max(t)));
                }
                _ => {}
            }
        }
        Ok(o)
    }
}

/// The id in a status's `containerID` (`containerd://<id>`).
pub fn runtime_id(container_id: &str) -> &str {
    container_id
        .split_once("://")
        .map_or(container_id, |(_, id)| id)
}

/// Upstream's `validateContainerLogStatus`: the runtime id of the container whose log to read,
/// or the message of a 400.
pub fn log_container_id(pod: &Pod, container: &str, previous: bool) -> Result<String, String> {
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    let status = pod.status.as_ref();
    fn find<'a>(list: Option<&'a Vec<ContainerStatus>>, name: &str) -> Option<&'a ContainerStatus> {
        list.and_then(|l| l.iter().find(|c| c.name == name))
    }
    let found = status.and_then(|s| {
        find(s.container_statuses.as_ref(), container)
            .or_else(|| find(s.init_container_statuses.as_ref(), container))
            .or_else(|| find(s.ephemeral_container_statuses.as_ref(), container))
    });
    let Some(cs) = found else {
        return Err(format!(
            "container {container:?} in pod {pod_name:?} is not available"
        ));
    };
    let last_terminated = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    let state = cs.state.as_ref();
    let (waiting, running, terminated) = (
        state.and_then(|s| s.waiting.as_ref()),
        state.and_then(|s| s.running.as_ref()),
        state.and_then(|s| s.terminated.as_ref()),
    );
    let nonempty = |id: &Option<String>| id.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    let id = if previous {
        last_terminated
            .and_then(|t| nonempty(&t.container_id))
            .ok_or_else(|| {
                format!("previous terminated container {container:?} in pod {pod_name:?} not found")
            })?
    } else if running.is_some() {
        nonempty(&cs.container_id).unwrap_or_default()
    } else if let Some(t) = terminated {
        nonempty(&t.container_id)
            .or_else(|| last_terminated.and_then(|l| nonempty(&l.container_id)))
            .ok_or_else(|| format!("container {container:?} in pod {pod_name:?} is terminated"))?
    } else if let Some(l) = last_terminated {
        nonempty(&l.container_id)
            .ok_or_else(|| format!("container {container:?} in pod {pod_name:?} is terminated"))?
    } else if let Some(w) = waiting {
        let reason = w.reason.as_deref().unwrap_or_default();
        return Err(match reason {
            "ErrImagePull" => format!(
                "container {container:?} in pod {pod_name:?} is waiting to start: image can't be pulled"
            ),
            "ImagePullBackOff" => format!(
                "container {container:?} in pod {pod_name:?} is waiting to start: trying and failing to pull image"
            ),
            r => format!("container {container:?} in pod {pod_name:?} is waiting to start: {r}"),
        });
    } else {
        return Err(format!(
            "container {container:?} in pod {pod_name:?} is waiting to start - no logs yet"
        ));
    };
    if id.is_empty() {
        return Err(format!(
            "container {container:?} in pod {pod_name:?} is waiting to start - no logs yet"
        ));
    }
    Ok(runtime_id(&id).to_owned())
}

/// A container's log file and whether the container runs, from CRI `ContainerStatus`.
pub async fn container_log(
    runtime: &mut RuntimeServiceClient<Channel>,
    id: &str,
) -> Result<(PathBuf, bool), String> {
    let status = runtime
        .container_status(ContainerStatusRequest {
            container_id: id.to_owned(),
            verbose: false,
        })
        .await
        .map_err(|e| {
            format!(
                "failed to get container status {id:?}: rpc error: code = {:?} desc = {}",
                e.code(),
                e.message()
            )
        })?
        .into_inner()
        .status
        .ok_or_else(|| format!("failed to get container status {id:?}: no status"))?;
    let running = status.state == ContainerState::ContainerRunning as i32;
    Ok((PathBuf::from(status.log_path), running))
}

/// Upstream's `FindTailLineStartIndex`: where the last `n` complete lines start (a last line
/// without its newline is not counted).
pub fn tail_start(f: &mut std::fs::File, n: Option<u64>) -> std::io::Result<u64> {
    const BLOCK: u64 = 1024;
    let Some(n) = n else { return Ok(0) };
    let size = f.seek(SeekFrom::End(0))?;
    let mut right = size;
    let mut count: u64 = 0;
    let mut buf = Vec::new();
    let mut left = size;
    while right > 0 && count <= n {
        left = right.saturating_sub(BLOCK);
        buf = vec![0u8; (right - left) as usize];
        f.seek(SeekFrom::Start(left))?;
        f.read_exact(&mut buf)?;
        count += buf.iter().filter(|b| **b == b'\n').count() as u64;
        right = left;
    }
    let mut start = left;
    let mut rest = &buf[..];
    while count > n {
        let Some(i) = rest.iter().position(|b| *b == b'\n') else {
            break;
        };
        start += i as u64 + 1;
        rest = &rest[i + 1..];
        count -= 1;
    }
    Ok(start)
}

/// One parsed record of a CRI log file.
#[derive(Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The time as written (RFC 3339, any number of fractional digits).
    pub time: &'a str,
    pub stream: &'a str,
    pub partial: bool,
    /// The text, with its newline for full records and without for partial ones.
    pub text: &'a [u8],
}

/// Parses one line of a CRI log file (`parseCRILog`).
pub fn parse_record(line: &[u8]) -> Option<Record<'_>> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let time = std::str::from_utf8(parts.next()?).ok()?;
    let stream = std::str::from_utf8(parts.next()?).ok()?;
    if stream != "stdout" && stream != "stderr" {
        return None;
    }
    let tags = parts.next()?;
    let partial = tags.split(|b| *b == b':').next() == Some(b"P");
    let mut text = parts.next()?;
    if partial && text.last() == Some(&b'\n') {
        text = &text[..text.len() - 1];
    }
    Some(Record {
        time,
        stream,
        partial,
        text,
    })
}

/// A record time in upstream's output form (`RFC3339NanoFixed`: nine fractional digits), the
/// zone kept as written.
pub fn fixed_nanos(time: &str) -> String {
    if time.len() < 19 || !time.is_char_boundary(19) {
        return time.to_owned();
    }
    let (base, rest) = time.split_at(19);
    let (frac, zone) = match rest.strip_prefix('.') {
        Some(r) => {
            let digits = r.bytes().take_while(u8::is_ascii_digit).count();
            r.split_at(digits)
        }
        None => ("", rest),
    };
    let mut frac: String = frac.chars().take(9).collect();
    while frac.len() < 9 {
        frac.push('0');
    }
    format!("{base}.{frac}{zone}")
}

/// Applies `since`, `timestamps` and `limitBytes` to records and sends what remains.
#[derive(Debug)]
struct Writer {
    opts: LogOptions,
    remain: u64,
    tx: mpsc::Sender<Bytes>,
    /// Whether the next record starts a line (the previous one ended with a newline): only
    /// those get a timestamp, so a line split into partial records carries one.
    line_start: bool,
}

enum Written {
    More,
    /// The byte limit is reached or the client went away.
    Done,
}

impl Writer {
    async fn write(&mut self, line: &[u8]) -> Written {
        let Some(rec) = parse_record(line) else {
            tracing::debug!(line = %String::from_utf8_lossy(line), "unparsable log line skipped");
            return Written::More;
        };
        let line_start = self.line_start;
        self.line_start = rec.text.last().is_none_or(|b| *b == b'\n');
        if let Some(since) = self.opts.since
            && let Ok(t) = rec.time.parse::<Timestamp>()
            && t < since
        {
            return Written::More;
        }
        let mut out = Vec::with_capacity(rec.text.len() + 32);
        if self.opts.timestamps && line_start {
            out.extend_from_slice(fixed_nanos(rec.time).as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(rec.text);
        if out.len() as u64 > self.remain {
            out.truncate(self.remain as usize);
        }
        self.remain -= out.len() as u64;
        if !out.is_empty() && self.tx.send(Bytes::from(out)).await.is_err() {
            return Written::Done;
        }
        if self.remain == 0 {
            Written::Done
        } else {
            Written::More
        }
    }
}

fn inode(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// How much of the file one blocking read takes before its lines are sent.
const CHUNK: usize = 64 * 1024;

type FileReader = std::io::BufReader<std::fs::File>;

/// Reads complete lines (appending to `carry`, which keeps an incomplete last line) until the
/// end of the file or about [`CHUNK`] bytes; returns the lines and whether the end was reached.
fn read_lines(
    reader: &mut FileReader,
    carry: &mut Vec<u8>,
) -> std::io::Result<(Vec<Vec<u8>>, bool)> {
    use std::io::BufRead;
    let mut lines = Vec::new();
    let mut bytes = 0;
    loop {
        reader.read_until(b'\n', carry)?;
        if carry.last() != Some(&b'\n') {
            return Ok((lines, true));
        }
        bytes += carry.len();
        lines.push(std::mem::take(carry));
        if bytes >= CHUNK {
            return Ok((lines, false));
        }
    }
}

/// Streams a container's log into `tx` (one chunk per record) until done: the end of the file,
/// or with `follow` the end of the file after the container stopped running. Ends early when
/// the receiver is dropped. File reads run on the blocking pool.
pub async fn stream(
    path: PathBuf,
    file: std::fs::File,
    id: String,
    mut follow: bool,
    opts: LogOptions,
    mut runtime: RuntimeServiceClient<Channel>,
    tx: mpsc::Sender<Bytes>,
) {
    let tail = opts.tail_lines;
    let limited = tail.is_some() && !follow;
    let mut left = tail.unwrap_or(0);
    let opened = tokio::task::spawn_blocking(move || {
        let mut f = file;
        let start = tail_start(&mut f, tail)?;
        f.seek(SeekFrom::Start(start))?;
        Ok::<_, std::io::Error>(f)
    })
    .await;
    let mut reader = match opened {
        Ok(Ok(f)) => std::io::BufReader::new(f),
        _ => return,
    };
    let mut current = inode(&path);
    let mut writer = Writer {
        remain: opts.limit_bytes.unwrap_or(u64::MAX),
        opts,
        tx,
        line_start: true,
    };
    let mut carry = Vec::new();
    let mut checked = Instant::now();
    loop {
        let read = tokio::task::spawn_blocking(move || {
            let r = read_lines(&mut reader, &mut carry);
            (reader, carry, r)
        })
        .await;
        let (back, rest, result) = match read {
            Ok(r) => r,
            Err(_) => return,
        };
        (reader, carry) = (back, rest);
        let (lines, eof) = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "reading a log failed");
                return;
            }
        };
        for line in &lines {
            if limited && left == 0 {
                return;
            }
            if let Written::Done = writer.write(line).await {
                return;
            }
            left = left.saturating_sub(1);
        }
        if limited && left == 0 {
            return;
        }
        if !eof {
            continue;
        }
        // At the end of the file, with `carry` holding an incomplete last line if any.
        if !follow {
            if !carry.is_empty() {
                let _ = writer.write(&carry).await;
            }
            return;
        }
        if checked.elapsed() >= RUNNING_CHECK {
            checked = Instant::now();
            if !matches!(container_log(&mut runtime, &id).await, Ok((_, true))) {
                // Stopped (or gone): read what is left, then end.
                follow = false;
                continue;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = writer.tx.closed() => return,
        }
        let now = inode(&path);
        if now.is_some() && now != current {
            // Rotated: continue in the new file from its start.
            match std::fs::File::open(&path) {
                Ok(f) => {
                    current = now;
                    reader = std::io::BufReader::new(f);
                    carry.clear();
                }
                Err(e) => {
                    tracing::debug!(path = %path.display(), error = %e, "reopening a log failed")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState as State, ContainerStateRunning, ContainerStateTerminated,
        ContainerStateWaiting, PodStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod(status: ContainerStatus) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                ..Default::default()
            },
            status: Some(PodStatus {
                container_statuses: Some(vec![status]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn terminated(id: &str) -> ContainerStateTerminated {
        ContainerStateTerminated {
            container_id: Some(id.into()),
            exit_code: 1,
            ..Default::default()
        }
    }

    #[test]
    fn the_container_follows_the_pod_status_as_upstream() {
        let running = ContainerStatus {
            name: "c".into(),
            container_id: Some("containerd://abc".into()),
            state: Some(State {
                running: Some(ContainerStateRunning::default()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            log_container_id(&pod(running.clone()), "c", false).unwrap(),
            "abc"
        );
        assert_eq!(
            log_container_id(&pod(running.clone()), "c", true).unwrap_err(),
            r#"previous terminated container "c" in pod "p" not found"#
        );
        let mut restarted = running.clone();
        restarted.last_state = Some(State {
            terminated: Some(terminated("containerd://old")),
            ..Default::default()
        });
        assert_eq!(log_container_id(&pod(restarted), "c", true).unwrap(), "old");
        let waiting = ContainerStatus {
            name: "c".into(),
            state: Some(State {
                waiting: Some(ContainerStateWaiting {
                    reason: Some("ContainerCreating".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            log_container_id(&pod(waiting), "c", false).unwrap_err(),
            r#"container "c" in pod "p" is waiting to start: ContainerCreating"#
        );
        assert_eq!(
            log_container_id(&pod(running), "other", false).unwrap_err(),
            r#"container "other" in pod "p" is not available"#
        );
        let done = ContainerStatus {
            name: "c".into(),
            state: Some(State {
                terminated: Some(terminated("containerd://fin")),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(log_container_id(&pod(done), "c", false).unwrap(), "fin");
    }

    #[test]
    fn records_parse_and_times_print_with_nine_digits() {
        let r = parse_record(b"2026-11-25T09:45:53.81Z stdout F hello\n").unwrap();
        assert_eq!(
            (r.stream, r.partial, r.text),
            ("stdout", false, &b"hello\n"[..])
        );
        let p = parse_record(b"2026-11-25T09:45:53.81Z stderr P part\n").unwrap();
        assert_eq!((p.partial, p.text), (true, &b"part"[..]));
        assert!(parse_record(b"nonsense").is_none());
        assert!(parse_record(b"2026-11-25T09:45:53Z stdin F x\n").is_none());
        assert_eq!(
            fixed_nanos("2026-11-25T09:45:53.81Z"),
            "2026-11-25T09:45:53.810000000Z"
        );
        assert_eq!(
            fixed_nanos("2026-11-25T09:45:53+01:00"),
            "2026-11-25T09:45:53.000000000+01:00"
        );
    }

    #[test]
    fn tail_counts_complete_lines_from_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut text = String::new();
        for i in 0..500 {
            text.push_str(&format!("line {i}\n"));
        }
        text.push_str("incomplete");
        std::fs::write(&path, &text).unwrap();
        let mut f = std::fs::File::open(&path).unwrap();
        let start = tail_start(&mut f, Some(2)).unwrap() as usize;
        assert_eq!(&text[start..], "line 498\nline 499\nincomplete");
        assert_eq!(tail_start(&mut f, None).unwrap(), 0);
        assert_eq!(tail_start(&mut f, Some(10_000)).unwrap(), 0);
        let zero = tail_start(&mut f, Some(0)).unwrap() as usize;
        assert_eq!(&text[zero..], "incomplete");
    }

    #[test]
    fn options_parse_from_the_query() {
        let now: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
        let o = LogOptions::from_query(
            Some("follow=true&tailLines=2&timestamps=true&sinceSeconds=60&limitBytes=10"),
            now,
        )
        .unwrap();
        assert!(o.follow && o.timestamps && !o.previous);
        assert_eq!(o.tail_lines, Some(2));
        assert_eq!(o.limit_bytes, Some(10));
        assert_eq!(o.since, Some("2026-11-25T09:59:00Z".parse().unwrap()));
        assert!(LogOptions::from_query(Some("tailLines=x"), now).is_err());
        assert!(LogOptions::from_query(Some("limitBytes=0"), now).is_err());
    }
}
