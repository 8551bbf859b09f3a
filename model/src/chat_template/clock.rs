//! `strftime_now(format)` for chat templates (Llama 3.x put today's date in the system
//! prompt): the current UTC time formatted with the common `strftime` directives.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u64,
    minute: u64,
    second: u64,
    /// 0 = Monday.
    weekday: usize,
}

impl Civil {
    /// Converts seconds since the Unix epoch (days-from-civil inverse, proleptic Gregorian).
    fn from_unix(secs: u64) -> Self {
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
            // 1970-01-01 was a Thursday (index 3).
            weekday: (days + 3).rem_euclid(7) as usize,
        }
    }

    fn format(&self, fmt: &str) -> String {
        let mut out = String::with_capacity(fmt.len() + 16);
        let mut chars = fmt.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let month = MONTHS[self.month as usize - 1];
            let weekday = WEEKDAYS[self.weekday];
            let _ = match chars.next() {
                Some('Y') => write!(out, "{}", self.year),
                Some('y') => write!(out, "{:02}", self.year.rem_euclid(100)),
                Some('m') => write!(out, "{:02}", self.month),
                Some('d') => write!(out, "{:02}", self.day),
                Some('e') => write!(out, "{:2}", self.day),
                Some('B') => write!(out, "{month}"),
                Some('b') => write!(out, "{}", &month[..3]),
                Some('A') => write!(out, "{weekday}"),
                Some('a') => write!(out, "{}", &weekday[..3]),
                Some('H') => write!(out, "{:02}", self.hour),
                Some('M') => write!(out, "{:02}", self.minute),
                Some('S') => write!(out, "{:02}", self.second),
                Some('%') => write!(out, "%"),
                Some(other) => write!(out, "%{other}"),
                None => write!(out, "%"),
            };
        }
        out
    }
}

/// The template function: formats the current UTC time.
pub(super) fn strftime_now(format: String) -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Civil::from_unix(secs).format(&format)
}

#[cfg(test)]
mod tests {
    use super::Civil;

    #[test]
    fn known_instants_format_like_strftime() {
        // 2024-02-29T13:05:09Z, a Thursday (`date -u -d @1709211909`).
        let t = Civil::from_unix(1_709_211_909);
        assert_eq!(t.format("%d %b %Y"), "29 Feb 2024");
        assert_eq!(
            t.format("%A %B %e %H:%M:%S %y %% %q"),
            "Thursday February 29 13:05:09 24 % %q"
        );
        let epoch = Civil::from_unix(0);
        assert_eq!(epoch.format("%a %Y-%m-%d"), "Thu 1970-01-01");
        // 2000-12-31T23:59:59Z, a Sunday.
        assert_eq!(
            Civil::from_unix(978_307_199).format("%a %Y-%m-%d %H:%M"),
            "Sun 2000-12-31 23:59"
        );
    }
}
