//! Go's formatting of the few values that appear in probe and hook messages, so that users
//! read the same text as from upstream's kubelet: `%q` of a string, `%v` of a
//! `time.Duration`, `%v` of a `[]string`, and the text of an errno.

use std::fmt::Write as _;

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
        let quoted = barge_api::go::quote(chunk.valid());
        out.push_str(&quoted[1..quoted.len() - 1]);
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

/// Go's `time.Duration.String()`.
pub(crate) use barge_api::go::duration;

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
    use std::time::Duration;

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
