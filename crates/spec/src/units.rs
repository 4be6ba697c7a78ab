//! Durations (`1m30s`) and byte sizes (`512m`), parsed the way Compose does
//! (Go's `time.ParseDuration`, docker/go-units `RAMInBytes`) and printed the
//! way Compose prints them (`1m30s`, `"536870912"`).

use std::fmt;

use serde::{Serialize, Serializer};

use crate::convert::{FromNode, expected};
use crate::error::RawResult;
use crate::yaml::{Kind, Node};

/// A duration in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub i64);

impl Duration {
    pub fn as_std(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.0.max(0) as u64)
    }

    /// Parses Go duration syntax: `300ms`, `1.5h`, `2h45m`, `-1s`, `0`.
    pub fn parse(s: &str) -> Option<Duration> {
        let s = s.trim();
        let (neg, mut rest) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        if rest == "0" {
            return Some(Duration(0));
        }
        if rest.is_empty() {
            return None;
        }
        let mut total: f64 = 0.0;
        while !rest.is_empty() {
            let num_end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            let num = &rest[..num_end];
            if num.is_empty() || num == "." {
                return None;
            }
            let v: f64 = num.parse().ok()?;
            rest = &rest[num_end..];
            let unit_end = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let mult = match &rest[..unit_end] {
                "ns" => 1.0,
                "us" | "µs" | "μs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                _ => return None,
            };
            rest = &rest[unit_end..];
            total += v * mult;
        }
        if total > i64::MAX as f64 {
            return None;
        }
        let ns = total.round() as i64;
        Some(Duration(if neg { -ns } else { ns }))
    }
}

/// Go's `time.Duration.String()`.
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = self.0;
        if d == 0 {
            return f.write_str("0s");
        }
        if d < 0 {
            f.write_str("-")?;
            d = d.checked_neg().unwrap_or(i64::MAX);
        }
        let d = d as u64;
        if d < 1_000_000_000 {
            // Sub-second: the largest unit that keeps an integer part.
            let (unit, div) = if d < 1_000 {
                ("ns", 1)
            } else if d < 1_000_000 {
                ("µs", 1_000)
            } else {
                ("ms", 1_000_000)
            };
            return write!(f, "{}{unit}", frac(d, div));
        }
        let h = d / 3_600_000_000_000;
        let m = (d / 60_000_000_000) % 60;
        let s_ns = d % 60_000_000_000;
        if h > 0 {
            write!(f, "{h}h{m}m")?;
        } else if m > 0 {
            write!(f, "{m}m")?;
        }
        write!(f, "{}s", frac(s_ns, 1_000_000_000))
    }
}

fn frac(v: u64, div: u64) -> String {
    let int = v / div;
    let rem = v % div;
    if rem == 0 {
        return int.to_string();
    }
    let width = div.to_string().len() - 1;
    let s = format!("{rem:0width$}");
    format!("{int}.{}", s.trim_end_matches('0'))
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl FromNode for Duration {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        let text = match &n.kind {
            Kind::Str(s) => s.clone(),
            Kind::Int(_) | Kind::Float(_) => n.scalar_text().unwrap_or_default(),
            _ => return Err(expected(n, path, "a duration like 1m30s")),
        };
        Duration::parse(&text).ok_or_else(|| expected(n, path, "a duration like 1m30s or 500ms"))
    }
}

/// A size in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub i64);

impl Bytes {
    /// docker/go-units `RAMInBytes`: `512m`, `1gb`, `1.5G`, `100` (binary
    /// multipliers), plus plain integers including `-1`.
    pub fn parse(s: &str) -> Option<Bytes> {
        let s = s.trim();
        if let Ok(i) = s.parse::<i64>() {
            return Some(Bytes(i));
        }
        let num_end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (num, unit) = s.split_at(num_end);
        if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
            return None;
        }
        let v: f64 = num.parse().ok()?;
        let unit = unit.strip_prefix(' ').unwrap_or(unit).to_ascii_lowercase();
        let unit = unit.strip_suffix('b').unwrap_or(&unit);
        let unit = unit.strip_suffix('i').unwrap_or(unit);
        let mult: f64 = match unit {
            "" => 1.0,
            "k" => 1024.0,
            "m" => 1024f64.powi(2),
            "g" => 1024f64.powi(3),
            "t" => 1024f64.powi(4),
            "p" => 1024f64.powi(5),
            _ => return None,
        };
        let total = v * mult;
        (total <= i64::MAX as f64).then_some(Bytes(total as i64))
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl FromNode for Bytes {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        match &n.kind {
            Kind::Int(i) => Ok(Bytes(*i)),
            Kind::Str(s) => Bytes::parse(s)
                .ok_or_else(|| expected(n, path, "a size like 512m, 1g or a number of bytes")),
            _ => Err(expected(
                n,
                path,
                "a size like 512m, 1g or a number of bytes",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_like_go() {
        for (i, o) in [
            ("1m30s", "1m30s"),
            ("1m", "1m0s"),
            ("10s", "10s"),
            ("1h", "1h0m0s"),
            ("500ms", "500ms"),
            ("1.5s", "1.5s"),
            ("0", "0s"),
            ("2h45m", "2h45m0s"),
            ("1500us", "1.5ms"),
            ("-3s", "-3s"),
        ] {
            assert_eq!(Duration::parse(i).unwrap().to_string(), o, "{i}");
        }
        for bad in ["", "10", "1x", "s", "1..2s", "-"] {
            assert_eq!(Duration::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn bytes_parse_like_go_units() {
        for (i, o) in [
            ("512m", 536_870_912),
            ("1gb", 1_073_741_824),
            ("1g", 1_073_741_824),
            ("64M", 67_108_864),
            ("100", 100),
            ("-1", -1),
            ("1.5k", 1536),
            ("2 kib", 2048),
        ] {
            assert_eq!(Bytes::parse(i), Some(Bytes(o)), "{i}");
        }
        for bad in ["", "m", "12x", "1.m", "-5m"] {
            assert_eq!(Bytes::parse(bad), None, "{bad}");
        }
    }
}
