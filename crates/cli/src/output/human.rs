//! Docker's human-readable times: `2 minutes ago`, `Up 3 seconds`.

use std::time::Duration;

/// Docker's `units.HumanDuration`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => format!("{} hours", s / 3600),
        172_800..=1_209_599 => format!("{} days", s / 86_400),
        1_209_600..=5_183_999 => format!("{} weeks", s / 604_800),
        5_184_000..=63_071_999 => format!("{} months", s / 2_592_000),
        _ => format!("{} years", s / 31_536_000),
    }
}

/// Time since an RFC 3339 timestamp.
pub fn since(rfc3339: &str) -> Duration {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .map(|t| {
            let d = time::OffsetDateTime::now_utc() - t;
            Duration::from_secs_f64(d.as_seconds_f64().max(0.0))
        })
        .unwrap_or_default()
}

pub fn ago(rfc3339: &str) -> String {
    format!("{} ago", duration(since(rfc3339)))
}

/// Docker's `HumanSizeWithPrecision(n, 3)`: decimal units, three
/// significant digits (`1.98MB`, `12.3kB`, `512B`).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let decimals = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    format!("{s}{}", UNITS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_wording() {
        assert_eq!(duration(Duration::from_secs(0)), "Less than a second");
        assert_eq!(duration(Duration::from_secs(5)), "5 seconds");
        assert_eq!(duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(duration(Duration::from_secs(600)), "10 minutes");
        assert_eq!(duration(Duration::from_secs(3 * 86_400)), "3 days");
        assert_eq!(size(1_980_000), "1.98MB");
        assert_eq!(size(12_345), "12.3kB");
        assert_eq!(size(512), "512B");
    }
}
