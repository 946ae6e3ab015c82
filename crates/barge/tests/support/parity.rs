//! What the parity tests of `barge kubectl` share (the cluster suite's `parity` module and the
//! node suite's): one run's outcome and the masking of ages, which differ between two runs
//! moments apart.

use std::process::Output;

/// What one run printed and how it ended.
#[derive(Debug, PartialEq, Eq)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn of(out: Output) -> Self {
        Self {
            code: out.status.code(),
            stdout: mask(&String::from_utf8_lossy(&out.stdout)),
            stderr: mask(&String::from_utf8_lossy(&out.stderr)),
        }
    }
}

/// Whether a word is an age as kubectl prints them (`5s`, `2m3s`, `3h`, `12d`, `<invalid>`).
fn is_age(word: &str) -> bool {
    if word == "<invalid>" {
        return true;
    }
    let mut rest = word;
    let mut units = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        let unit = rest[digits..].chars().next();
        if !matches!(unit, Some('s' | 'm' | 'h' | 'd' | 'y')) {
            return false;
        }
        rest = &rest[digits + 1..];
        units += 1;
    }
    units > 0
}

/// The text with every age replaced by `<age>`; column alignment is kept by padding.
pub fn mask(text: &str) -> String {
    text.lines()
        .map(|line| {
            line.split(' ')
                .map(|w| if is_age(w) { "<age>" } else { w })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_masked() {
        assert!(is_age("5s") && is_age("2m3s") && is_age("12d") && is_age("<invalid>"));
        assert!(!is_age("s5") && !is_age("web") && !is_age("") && !is_age("10.0.0.1"));
        assert_eq!(
            mask("NAME   READY   AGE\nweb    1/1     2m3s"),
            "NAME READY AGE\nweb 1/1 <age>"
        );
    }
}
