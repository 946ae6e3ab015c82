//! Resource quantities (upstream's `resource.Quantity`): parsed as `ParseQuantity` parses them,
//! compared by value, and printed in the canonical form of its `String()` (`1536Mi`, `500m`,
//! `1k`), which is how validation messages show them.
//!
//! A value is an exact decimal, `mantissa × 10^scale`, rounded up (away from zero) to nano units
//! as upstream rounds it. Upstream falls back to arbitrary precision for numbers beyond 64 bits;
//! here 128 bits carry about 38 digits, and a number that needs more is refused as
//! [`Error::Numeric`] rather than approximated.

use std::cmp::Ordering;
use std::fmt;

/// How a quantity was written, which decides how it prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `12e6`: a decimal exponent.
    DecimalExponent,
    /// `5Gi`: a power-of-two suffix.
    BinarySI,
    /// `5G`, `500m`, `12`: a decimal suffix or none.
    DecimalSI,
}

/// Why a string is not a quantity, worded as upstream's errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    Format,
    #[error("unable to parse quantity's suffix")]
    Suffix,
    #[error("unable to parse numeric part of quantity")]
    Numeric,
}

/// A parsed quantity. Equality and order are by value (`1k == 1000`).
#[derive(Clone, Copy, Debug)]
pub struct Quantity {
    mantissa: i128,
    scale: i32,
    format: Format,
}

/// The smallest unit upstream keeps: values are rounded up to nano (10^-9).
const NANO: i32 = -9;

/// The largest value a binary-suffixed quantity may have (upstream caps it at int64's maximum).
const MAX_BINARY: i128 = i64::MAX as i128;

/// The sign, integer digits (without leading zeros), fraction digits and suffix of a quantity,
/// split as upstream's `parseQuantityString` splits them.
struct Parts<'a> {
    positive: bool,
    num: &'a str,
    denom: &'a str,
    suffix: &'a str,
}

fn split(s: &str) -> Result<Parts<'_>, Error> {
    let b = s.as_bytes();
    let mut pos = 0;
    let mut positive = true;
    match b.first() {
        Some(b'-') => {
            positive = false;
            pos += 1;
        }
        Some(b'+') => pos += 1,
        _ => {}
    }
    let digits_from = |mut p: usize| {
        while p < b.len() && b[p].is_ascii_digit() {
            p += 1;
        }
        p
    };
    while pos < b.len() && b[pos] == b'0' {
        pos += 1;
    }
    let start = pos;
    pos = digits_from(pos);
    let num = if pos == start { "0" } else { &s[start..pos] };
    let mut denom = "";
    if pos < b.len() && b[pos] == b'.' {
        let from = pos + 1;
        pos = digits_from(from);
        denom = &s[from..pos];
    }
    let suffix_start = pos;
    while pos < b.len() && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < b.len() && (b[pos] == b'-' || b[pos] == b'+') {
        pos += 1;
    }
    if digits_from(pos) != b.len() {
        return Err(Error::Format);
    }
    Ok(Parts {
        positive,
        num,
        denom,
        suffix: &s[suffix_start..],
    })
}

/// The base, exponent and format a suffix stands for.
fn interpret(suffix: &str) -> Option<(u32, i32, Format)> {
    const DECIMAL: &[(&str, i32)] = &[
        ("n", -9),
        ("u", -6),
        ("m", -3),
        ("", 0),
        ("k", 3),
        ("M", 6),
        ("G", 9),
        ("T", 12),
        ("P", 15),
        ("E", 18),
    ];
    const BINARY: &[(&str, i32)] = &[
        ("Ki", 10),
        ("Mi", 20),
        ("Gi", 30),
        ("Ti", 40),
        ("Pi", 50),
        ("Ei", 60),
    ];
    if let Some((_, e)) = DECIMAL.iter().find(|(s, _)| *s == suffix) {
        return Some((10, *e, Format::DecimalSI));
    }
    if let Some((_, e)) = BINARY.iter().find(|(s, _)| *s == suffix) {
        return Some((2, *e, Format::BinarySI));
    }
    let exponent = suffix.strip_prefix(['e', 'E'])?;
    Some((10, exponent.parse().ok()?, Format::DecimalExponent))
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

/// `digits` (decimal, no sign) as an integer.
fn integer(digits: &str) -> Result<i128, Error> {
    digits.parse::<i128>().map_err(|_| Error::Numeric)
}

/// `m / 10^n`, rounded away from zero.
fn divide_up(m: i128, n: u32) -> i128 {
    match pow10(n) {
        Some(d) => m / d + i128::from(m % d != 0),
        None => i128::from(m != 0),
    }
}

impl Quantity {
    /// Parses a quantity as upstream's `ParseQuantity` does.
    pub fn parse(s: &str) -> Result<Self, Error> {
        if s.is_empty() {
            return Err(Error::Format);
        }
        let parts = split(s)?;
        let (base, exponent, format) = interpret(parts.suffix).ok_or(Error::Suffix)?;
        let fraction = i32::try_from(parts.denom.len()).map_err(|_| Error::Numeric)?;
        let (mut mantissa, scale) = if base == 10 {
            Self::decimal(parts.num, parts.denom, exponent.checked_sub(fraction))?
        } else {
            let digits = integer(&format!("{}{}", parts.num, parts.denom))?;
            let m = digits
                .checked_mul(1i128 << exponent)
                .ok_or(Error::Numeric)?;
            if fraction > -NANO {
                (divide_up(m, (fraction + NANO) as u32), NANO)
            } else {
                (m, -fraction)
            }
        };
        let mut scale = scale;
        if format == Format::BinarySI && Self::exceeds(mantissa, scale, MAX_BINARY) {
            (mantissa, scale) = (MAX_BINARY, 0);
        }
        if !parts.positive {
            mantissa = -mantissa;
        }
        Ok(Self {
            mantissa,
            scale,
            format,
        })
    }

    /// The value of decimal digits `num.denom × 10^scale`, rounded up to nano units.
    fn decimal(num: &str, denom: &str, scale: Option<i32>) -> Result<(i128, i32), Error> {
        let scale = scale.ok_or(Error::Numeric)?;
        let digits = format!("{num}{denom}");
        if scale >= NANO {
            return Ok((integer(&digits)?, scale));
        }
        // Digits finer than nano are dropped, and any that were not zero round the value up.
        let drop = usize::try_from(i64::from(NANO) - i64::from(scale)).unwrap_or(usize::MAX);
        let keep = digits.len().saturating_sub(drop);
        let round_up = digits[keep..].bytes().any(|c| c != b'0');
        let kept = if keep == 0 {
            0
        } else {
            integer(&digits[..keep])?
        };
        Ok((kept + i128::from(round_up), NANO))
    }

    /// Whether `mantissa × 10^scale` (not negative) is above `limit`.
    fn exceeds(mantissa: i128, scale: i32, limit: i128) -> bool {
        Self::from_parts(mantissa, scale).cmp(&Self::from_parts(limit, 0)) == Ordering::Greater
    }

    fn from_parts(mantissa: i128, scale: i32) -> Self {
        Self {
            mantissa,
            scale,
            format: Format::DecimalSI,
        }
    }

    /// A whole number, in the decimal format.
    pub fn from_int(n: i64) -> Self {
        Self::from_parts(i128::from(n), 0)
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    pub fn is_negative(&self) -> bool {
        self.mantissa < 0
    }

    /// Whether the value has no fractional part.
    pub fn is_integer(&self) -> bool {
        self.scale >= 0 || pow10(self.scale.unsigned_abs()).is_none_or(|d| self.mantissa % d == 0)
    }

    /// The value in thousandths, rounded up (upstream's `MilliValue`), saturating.
    pub fn milli_value(&self) -> i128 {
        self.scaled(-3)
    }

    /// The value in billionths, rounded up (CPU in nano-cores), saturating.
    pub fn nano_value(&self) -> i128 {
        self.scaled(-9)
    }

    /// The value rounded up to a whole number (upstream's `Value`), saturating.
    pub fn value(&self) -> i128 {
        self.scaled(0)
    }

    /// The value in units of 10^`to`, rounded up, saturating at the bounds of i128.
    fn scaled(&self, to: i32) -> i128 {
        let shift = self.scale - to;
        if shift >= 0 {
            match pow10(shift.unsigned_abs()).and_then(|p| self.mantissa.checked_mul(p)) {
                Some(v) => v,
                None if self.mantissa < 0 => i128::MIN,
                None => i128::MAX,
            }
        } else {
            // Upstream rounds up: towards positive infinity.
            match pow10(shift.unsigned_abs()) {
                Some(d) => {
                    self.mantissa.div_euclid(d) + i128::from(self.mantissa.rem_euclid(d) != 0)
                }
                None => i128::from(self.mantissa > 0),
            }
        }
    }

    fn approx(&self) -> f64 {
        self.mantissa as f64 * 10f64.powi(self.scale)
    }

    /// The canonical decimal form: mantissa without trailing zeros, exponent a multiple of 3.
    fn canonical_decimal(&self) -> (i128, i32) {
        let (mut m, mut s) = (self.mantissa, self.scale);
        while m % 10 == 0 {
            m /= 10;
            s += 1;
        }
        let r = s.rem_euclid(3);
        match pow10(r.unsigned_abs()).and_then(|p| m.checked_mul(p)) {
            Some(v) => (v, s - r),
            None => (m, s),
        }
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        let common = self.scale.min(other.scale);
        let lift = |q: &Self| {
            pow10((q.scale - common).unsigned_abs()).and_then(|p| q.mantissa.checked_mul(p))
        };
        match (lift(self), lift(other)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => self.approx().total_cmp(&other.approx()),
        }
    }
}

/// Upstream's `String()`: the canonical form, keeping the suffix family the value was written
/// in where it can (a binary value below 1Ki or not whole prints as decimal).
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        let binary = self.format == Format::BinarySI
            && self.is_integer()
            && (self.value() <= -1024 || self.value() >= 1024);
        if binary {
            const SUFFIXES: &[&str] = &["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
            let (mut n, mut e) = (self.value(), 0);
            while n % 1024 == 0 && e + 1 < SUFFIXES.len() {
                n /= 1024;
                e += 1;
            }
            return write!(f, "{n}{}", SUFFIXES[e]);
        }
        let (m, s) = self.canonical_decimal();
        let suffix = match (self.format, s) {
            (Format::DecimalExponent, 0) => "",
            (Format::DecimalExponent, _) => return write!(f, "{m}e{s}"),
            (_, -9) => "n",
            (_, -6) => "u",
            (_, -3) => "m",
            (_, 0) => "",
            (_, 3) => "k",
            (_, 6) => "M",
            (_, 9) => "G",
            (_, 12) => "T",
            (_, 15) => "P",
            (_, 18) => "E",
            _ => return write!(f, "{m}e{s}"),
        };
        write!(f, "{m}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn prints_the_canonical_form_as_upstream() {
        for (input, canonical) in [
            ("0", "0"),
            ("-0", "0"),
            ("1", "1"),
            ("1000m", "1"),
            ("0.5", "500m"),
            (".5", "500m"),
            ("100m", "100m"),
            ("1500m", "1500m"),
            ("1024", "1024"),
            ("1Ki", "1Ki"),
            ("8Ki", "8Ki"),
            ("1024Ki", "1Mi"),
            ("1.5Gi", "1536Mi"),
            ("0.5Ki", "512"),
            ("2048", "2048"),
            ("1e3", "1e3"),
            ("1E6", "1e6"),
            ("12e6", "12e6"),
            ("1000k", "1M"),
            ("10G", "10G"),
            ("-1", "-1"),
            ("-1.5", "-1500m"),
            ("+2", "2"),
            ("0.1n", "1n"),
            ("1.0000000001", "1000000001n"),
            ("0.000000000000000000000000000001", "1n"),
            ("007", "7"),
        ] {
            assert_eq!(q(input).to_string(), canonical, "{input}");
        }
    }

    #[test]
    fn refuses_what_upstream_refuses_with_its_messages() {
        for (input, error) in [
            ("", Error::Format),
            ("abc", Error::Format),
            ("1.2.3", Error::Format),
            ("1 ", Error::Format),
            ("1x", Error::Format),
            ("1Mb", Error::Format),
            ("1e", Error::Suffix),
            ("1Ko", Error::Format),
            ("1K", Error::Suffix),
            ("1kk", Error::Suffix),
            ("1+5", Error::Suffix),
        ] {
            assert_eq!(Quantity::parse(input).unwrap_err(), error, "{input:?}");
        }
        assert_eq!(
            Error::Format.to_string(),
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
    }

    #[test]
    fn compares_by_value() {
        assert_eq!(q("1"), q("1000m"));
        assert_eq!(q("1Ki"), q("1024"));
        assert!(q("2") > q("1"));
        assert!(q("500Mi") < q("1Gi"));
        assert!(q("1G") < q("1Gi"));
        assert!(q("-1") < q("0"));
        assert!(q("1e40") > q("1E"));
        assert_eq!(q("1").cmp(&Quantity::from_int(1)), Ordering::Equal);
    }

    #[test]
    fn values_round_up_and_integers_are_known() {
        assert_eq!(q("1500m").value(), 2);
        assert_eq!(q("1.5").milli_value(), 1500);
        assert_eq!(q("0.1m").milli_value(), 1);
        assert_eq!(q("-1.5").value(), -1);
        assert!(q("2").is_integer() && q("1k").is_integer() && !q("1.5").is_integer());
        assert!(q("-1").is_negative() && !q("0").is_negative());
        assert_eq!(q("9Ei").to_string(), "9223372036854775807");
    }
}
