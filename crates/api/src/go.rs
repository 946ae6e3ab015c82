//! How Go prints strings, for messages that must read exactly as upstream's.

use std::fmt::Write;

/// A string quoted as Go's `strconv.Quote` (and `%q`) does: `\a \b \f \n \r \t \v \\ \"`
/// escapes, `\xNN` for other ASCII controls and `\uNNNN` / `\UNNNNNNNN` for the runes Go does
/// not print.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
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
            c if !printable(c) => {
                if (c as u32) < 0x10000 {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                } else {
                    let _ = write!(out, "\\U{:08x}", c as u32);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.IsPrint`, closely: controls, the format and separator runes, private use and
/// non-characters are not printable.
fn printable(c: char) -> bool {
    let u = c as u32;
    !(c.is_control()
        || matches!(u, 0xa0 | 0xad | 0x1680 | 0x180e | 0x2000..=0x200f | 0x2028..=0x202f)
        || matches!(u, 0x205f..=0x206f | 0x3000 | 0xfeff | 0xfff9..=0xfffb)
        || matches!(u, 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x8e2)
        || matches!(u, 0xe000..=0xf8ff | 0xf0000..=0x10ffff | 0xfdd0..=0xfdef)
        || u & 0xfffe == 0xfffe)
}

/// Go's `time.Duration.String()`: `0s`, `500ms`, `1s`, `1.5s`, `1m0s`, `2h3m4s`.
pub fn duration(d: std::time::Duration) -> String {
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

/// A string as Go's `encoding/json` writes it (appended to `out`): `\"`, `\\`, `\n`, `\r`,
/// `\t`, `\u00XX` for other controls, and `<`, `>`, `&`, U+2028, U+2029 escaped as `\uXXXX`.
pub fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
