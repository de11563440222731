//! Business hours: when people are there to take a hand-off. The detector decides without
//! them; the hand-off queue asks [`BusinessHours::is_open`] to offer a callback instead of a
//! wait when nobody is in. Times are in one fixed UTC offset (no daylight-saving rules: edit
//! the offset when the clocks change, or give the hours in standard time).

use super::raw::RawHours;
use time::{Date, Duration, Month, OffsetDateTime, UtcOffset, Weekday};

/// Opening hours, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessHours {
    offset: UtcOffset,
    closed: Vec<Date>,
    windows: Vec<Window>,
}

/// One opening window on some weekdays, in minutes after local midnight (`to` may be 1440).
#[derive(Debug, Clone, PartialEq)]
struct Window {
    days: [bool; 7],
    from: u16,
    to: u16,
}

const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

impl BusinessHours {
    /// Validates the `[hours]` table; errors are `(field, message)`.
    pub(crate) fn from_raw(raw: &RawHours) -> Result<Self, (String, String)> {
        let offset = parse_offset(&raw.utc_offset).ok_or_else(|| {
            (
                "hours.utc_offset".to_owned(),
                format!(
                    "{:?} is not an offset such as \"-05:00\" or \"+01:00\"",
                    raw.utc_offset
                ),
            )
        })?;
        let closed = raw
            .closed_dates
            .iter()
            .enumerate()
            .map(|(i, d)| {
                parse_date(d).ok_or_else(|| {
                    (
                        format!("hours.closed_dates[{i}]"),
                        format!("{d:?} is not a date such as \"2026-12-25\""),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if raw.open.is_empty() {
            return Err((
                "hours.open".into(),
                "list at least one opening window".into(),
            ));
        }
        let mut windows = Vec::new();
        for (i, w) in raw.open.iter().enumerate() {
            let field = |name: &str| format!("hours.open[{i}].{name}");
            let mut days = [false; 7];
            for day in &w.days {
                let n = DAYS
                    .iter()
                    .position(|(name, _)| name.eq_ignore_ascii_case(day.trim()))
                    .ok_or_else(|| {
                        (
                            field("days"),
                            format!("unknown day {day:?}; use mon, tue, wed, thu, fri, sat, sun"),
                        )
                    })?;
                days[n] = true;
            }
            if w.days.is_empty() {
                return Err((field("days"), "list at least one day".into()));
            }
            let from = parse_time(&w.from).ok_or_else(|| {
                (
                    field("from"),
                    format!("{:?} is not a time such as \"08:00\"", w.from),
                )
            })?;
            let to = parse_time(&w.to).ok_or_else(|| {
                (
                    field("to"),
                    format!("{:?} is not a time such as \"22:00\" (or \"24:00\")", w.to),
                )
            })?;
            if to <= from {
                return Err((
                    field("to"),
                    format!(
                        "closing time {} must be after opening time {} (split a window that passes midnight in two)",
                        w.to, w.from
                    ),
                ));
            }
            windows.push(Window { days, from, to });
        }
        Ok(Self {
            offset,
            closed,
            windows,
        })
    }

    /// Whether people are working at `at` (any offset; converted to the policy's).
    pub fn is_open(&self, at: OffsetDateTime) -> bool {
        let local = at.to_offset(self.offset);
        if self.closed.contains(&local.date()) {
            return false;
        }
        let day = local.weekday().number_days_from_monday() as usize;
        let minute = u16::from(local.hour()) * 60 + u16::from(local.minute());
        self.windows
            .iter()
            .any(|w| w.days[day] && (w.from..w.to).contains(&minute))
    }

    /// The next time people are in, at or after `at` (within two weeks), in the policy's
    /// offset: what a "we'll call you back" message can promise.
    pub fn next_open(&self, at: OffsetDateTime) -> Option<OffsetDateTime> {
        if self.is_open(at) {
            return Some(at.to_offset(self.offset));
        }
        let local = at.to_offset(self.offset);
        (0..15).find_map(|n| {
            let date = local.date().checked_add(Duration::days(n))?;
            if self.closed.contains(&date) {
                return None;
            }
            let day = date.weekday().number_days_from_monday() as usize;
            self.windows
                .iter()
                .filter(|w| w.days[day])
                .map(|w| {
                    date.midnight().assume_offset(self.offset)
                        + Duration::minutes(i64::from(w.from))
                })
                .filter(|start| *start >= local)
                .min()
        })
    }

    /// The fixed UTC offset the hours are given in.
    pub fn utc_offset(&self) -> UtcOffset {
        self.offset
    }
}

/// `"-05:00"`, `"+01:00"`, `"+0530"`, `"Z"` or `"UTC"`.
fn parse_offset(s: &str) -> Option<UtcOffset> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("z") || s.eq_ignore_ascii_case("utc") {
        return Some(UtcOffset::UTC);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest
        .split_once(':')
        .unwrap_or((rest.get(..2)?, rest.get(2..)?));
    let (h, m): (i8, i8) = (two_digits(h)?, two_digits(m)?);
    if h > 14 || m > 59 {
        return None;
    }
    UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

fn two_digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

/// `"HH:MM"` as minutes after midnight; `"24:00"` is the end of the day.
fn parse_time(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u16, u16) = (two_digits(h)?, two_digits(m)?);
    match (h, m) {
        (24, 0) => Some(1440),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

/// `"YYYY-MM-DD"`.
fn parse_date(s: &str) -> Option<Date> {
    let mut parts = s.trim().splitn(3, '-');
    let year: i32 = parts.next().filter(|p| p.len() == 4)?.parse().ok()?;
    let month: u8 = two_digits(parts.next()?)?;
    let day: u8 = two_digits(parts.next()?)?;
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::moments::policy::raw::RawWindow;
    use time::macros::datetime;

    fn hours() -> BusinessHours {
        let raw = RawHours {
            utc_offset: "-05:00".into(),
            closed_dates: vec!["2026-12-25".into()],
            open: vec![
                RawWindow {
                    days: ["mon", "tue", "wed", "thu", "fri"].map(String::from).into(),
                    from: "08:00".into(),
                    to: "22:00".into(),
                },
                RawWindow {
                    days: vec!["sat".into()],
                    from: "10:00".into(),
                    to: "16:00".into(),
                },
            ],
        };
        BusinessHours::from_raw(&raw).unwrap()
    }

    #[test]
    fn open_follows_the_days_the_times_and_the_offset() {
        let h = hours();
        // Monday 2026-12-07, 09:00 local = 14:00 UTC.
        assert!(h.is_open(datetime!(2026-12-07 14:00 UTC)));
        // 07:59 local is before opening; 22:00 local is closing time.
        assert!(!h.is_open(datetime!(2026-12-07 12:59 UTC)));
        assert!(!h.is_open(datetime!(2026-12-08 03:00 UTC)));
        // Sunday: no window.
        assert!(!h.is_open(datetime!(2026-12-06 16:00 UTC)));
        // Christmas (a Friday) is closed all day.
        assert!(!h.is_open(datetime!(2026-12-25 16:00 UTC)));
    }

    #[test]
    fn next_open_skips_closed_days() {
        let h = hours();
        // Christmas Friday evening → Saturday 10:00 local.
        let next = h.next_open(datetime!(2026-12-25 23:00 UTC)).unwrap();
        assert_eq!(next, datetime!(2026-12-26 10:00 -05:00));
        // Saturday after closing → Monday 08:00.
        let next = h.next_open(datetime!(2026-12-26 22:00 UTC)).unwrap();
        assert_eq!(next, datetime!(2026-12-28 08:00 -05:00));
    }

    #[test]
    fn bad_values_name_their_field() {
        let mut raw = RawHours {
            utc_offset: "EST".into(),
            closed_dates: vec![],
            open: vec![],
        };
        assert_eq!(
            BusinessHours::from_raw(&raw).unwrap_err().0,
            "hours.utc_offset"
        );
        raw.utc_offset = "-05:00".into();
        raw.closed_dates = vec!["2026-02-30".into()];
        assert_eq!(
            BusinessHours::from_raw(&raw).unwrap_err().0,
            "hours.closed_dates[0]"
        );
        raw.closed_dates.clear();
        raw.open = vec![RawWindow {
            days: vec!["mon".into()],
            from: "18:00".into(),
            to: "09:00".into(),
        }];
        assert_eq!(
            BusinessHours::from_raw(&raw).unwrap_err().0,
            "hours.open[0].to"
        );
        raw.open[0].days = vec!["monday".into()];
        assert_eq!(
            BusinessHours::from_raw(&raw).unwrap_err().0,
            "hours.open[0].days"
        );
        assert_eq!(parse_offset("+0530"), UtcOffset::from_hms(5, 30, 0).ok());
    }
}
