//! Go's formatting of the few values that appear in probe and hook messages, so that users
//! read the same text as from upstream's kubelet: `%q` of a string, `%v` of a
//! `time.Duration`, `%v` of a `[]string`, and the text of an errno.

use std::fmt::Write as _;
use std::time::Duration;

/// `strconv.Quote` (Go's `%q` of a string): double quotes, with `"`, `\`, control characters
/// and invalid UTF-8 escaped.
pub(crate) fn quote(s: &str) -> String {
    quote_bytes(s.as_bytes())
}

/// [`quote`] of raw bytes, escaping invalid UTF-8 as `\xNN` as Go does.
pub(crate) fn quote_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{b}' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c if c.is_control() || c == '\u{feff}' => {
                    let n = c as u32;
                    if n <= 0xffff {
                        let _ = write!(out, "\\u{n:04x}");
                    } else {
                        let _ = write!(out, "\\U{n:08x}");
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    out
}

/// Go's `%v` of a `[]string`: `[a b c]`.
pub(crate) fn string_slice(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// Go's `time.Duration.String()`: `0s`, `500ms`, `1s`, `1.5s`, `1m0s`, `2h3m4s`.
pub(crate) fn duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000_000_000 {
        // Below a second Go picks the largest unit that keeps the integer part non-zero.
        let (unit, div) = if nanos < 1_000 {
            ("ns", 1)
        } else if nanos < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", fraction(nanos, div));
    }
    let total_secs = nanos / 1_000_000_000;
    let sub = nanos % 1_000_000_000;
    let hours = total_secs / 3600;
    let mins = (total_secs % 3600) / 60;
    let secs = total_secs % 60;
    let secs = fraction(secs * 1_000_000_000 + sub, 1_000_000_000);
    if hours > 0 {
        format!("{hours}h{mins}m{secs}s")
    } else if mins > 0 {
        format!("{mins}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

/// `value / div` printed with the shortest exact decimal fraction.
fn fraction(value: u128, div: u128) -> String {
    let int = value / div;
    let mut rem = value % div;
    if rem == 0 {
        return int.to_string();
    }
    let mut digits = String::new();
    let mut scale = div;
    while rem > 0 && scale > 1 {
        scale /= 10;
        digits.push(char::from(b'0' + (rem / scale) as u8));
        rem %= scale;
    }
    format!("{int}.{}", digits.trim_end_matches('0'))
}

/// The text Go prints for an `errno`: the C library's message with a lower-case first letter
/// (`connection refused`, `no route to host`).
pub(crate) fn errno_text(err: &std::io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => {
            let desc = nix::errno::Errno::from_raw(code).desc();
            let mut chars = desc.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => err.to_string(),
            }
        }
        None => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(quote("sh -c sleep 5"), r#""sh -c sleep 5""#);
        assert_eq!(quote("a\"b\\c\n\t"), r#""a\"b\\c\n\t""#);
        assert_eq!(quote("\u{1}é"), r#""\x01é""#);
        assert_eq!(quote_bytes(b"ok\xff"), r#""ok\xff""#);
    }

    #[test]
    fn durations_like_go() {
        assert_eq!(duration(Duration::ZERO), "0s");
        assert_eq!(duration(Duration::from_secs(1)), "1s");
        assert_eq!(duration(Duration::from_secs(60)), "1m0s");
        assert_eq!(duration(Duration::from_secs(3725)), "1h2m5s");
        assert_eq!(duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(duration(Duration::from_millis(50)), "50ms");
        assert_eq!(duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(duration(Duration::from_nanos(7)), "7ns");
    }

    #[test]
    fn errno_texts_like_go() {
        let refused = std::io::Error::from_raw_os_error(nix::libc::ECONNREFUSED);
        assert_eq!(errno_text(&refused), "connection refused");
        let unreachable = std::io::Error::from_raw_os_error(nix::libc::EHOSTUNREACH);
        assert_eq!(errno_text(&unreachable), "no route to host");
        assert_eq!(
            string_slice(&["sh".into(), "-c".into(), "exit 3".into()]),
            "[sh -c exit 3]"
        );
    }
}
