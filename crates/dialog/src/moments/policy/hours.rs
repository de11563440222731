//! Business hours: when people are there to take a hand-off. The detector decides without
//! them; the hand-off queue asks [`BusinessHours::is_open`] to offer a callback instead of a
//! wait when nobody is in. Times are local to a time zone (`time_zone`, with its
//! daylight-saving rules) or to one fixed UTC offset (`utc_offset`).

use super::raw::RawHours;
use time::{Date, Duration, Month, OffsetDateTime, UtcOffset, Weekday};

/// Opening hours, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessHours {
    zone: Zone,
    closed: Vec<Date>,
    windows: Vec<Window>,
}

/// Where the hours' clock is.
#[derive(Debug, Clone, PartialEq)]
enum Zone {
    Fixed(UtcOffset),
    /// An IANA zone, by name (for equality) and rules.
    Named(String, jiff::tz::TimeZone),
}

impl Zone {
    /// The zone's offset from UTC at the instant `at`.
    fn offset_at(&self, at: OffsetDateTime) -> UtcOffset {
        match self {
            Self::Fixed(offset) => *offset,
            Self::Named(_, tz) => jiff::Timestamp::from_second(at.unix_timestamp())
                .ok()
                .and_then(|ts| UtcOffset::from_whole_seconds(tz.to_offset(ts).seconds()).ok())
                .unwrap_or(UtcOffset::UTC),
        }
    }

    /// `at` on the zone's clock.
    fn local(&self, at: OffsetDateTime) -> OffsetDateTime {
        at.to_offset(self.offset_at(at))
    }

    /// The instant when the zone's clock shows `minute` minutes after midnight of `date`.
    fn instant(&self, date: Date, minute: u16) -> OffsetDateTime {
        let wall = date.midnight() + Duration::minutes(i64::from(minute));
        // The offset a little before, then checked at the instant it gives (a clock change
        // between midnight and the opening time moves it).
        let guess = wall.assume_offset(self.offset_at(wall.assume_utc()));
        wall.assume_offset(self.offset_at(guess))
    }
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
        let zone = match (&raw.utc_offset, &raw.time_zone) {
            (Some(offset), None) => Zone::Fixed(parse_offset(offset).ok_or_else(|| {
                (
                    "hours.utc_offset".to_owned(),
                    format!("{offset:?} is not an offset such as \"-05:00\" or \"+01:00\""),
                )
            })?),
            (None, Some(name)) => {
                let tz = jiff::tz::TimeZone::get(name.trim()).map_err(|_| {
                    (
                        "hours.time_zone".to_owned(),
                        format!("{name:?} is not a time zone such as \"America/Toronto\" or \"Europe/London\""),
                    )
                })?;
                Zone::Named(name.trim().to_owned(), tz)
            }
            (Some(_), Some(_)) => {
                return Err((
                    "hours.time_zone".into(),
                    "give either time_zone or utc_offset, not both".into(),
                ));
            }
            (None, None) => {
                return Err((
                    "hours.time_zone".into(),
                    "give the time zone of the hours (\"America/Toronto\"), or a fixed utc_offset"
                        .into(),
                ));
            }
        };
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
            zone,
            closed,
            windows,
        })
    }

    /// Whether people are working at `at` (any offset; converted to the policy's).
    pub fn is_open(&self, at: OffsetDateTime) -> bool {
        let local = self.zone.local(at);
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
            return Some(self.zone.local(at));
        }
        let local = self.zone.local(at);
        (0..15).find_map(|n| {
            let date = local.date().checked_add(Duration::days(n))?;
            if self.closed.contains(&date) {
                return None;
            }
            let day = date.weekday().number_days_from_monday() as usize;
            self.windows
                .iter()
                .filter(|w| w.days[day])
                .map(|w| self.zone.instant(date, w.from))
                .filter(|start| *start >= local)
                .min()
        })
    }

    /// The hours' offset from UTC at the instant `at` (fixed, or by the time zone's rules).
    pub fn utc_offset(&self, at: OffsetDateTime) -> UtcOffset {
        self.zone.offset_at(at)
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
        hours_in(Some("-05:00"), None)
    }

    fn hours_in(utc_offset: Option<&str>, time_zone: Option<&str>) -> BusinessHours {
        let raw = RawHours {
            utc_offset: utc_offset.map(String::from),
            time_zone: time_zone.map(String::from),
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
    fn a_time_zone_follows_daylight_saving_time() {
        let h = hours_in(None, Some("America/Toronto"));
        // Winter, EST (-05:00): 08:00 local is 13:00 UTC.
        assert!(!h.is_open(datetime!(2026-12-07 12:59 UTC)));
        assert!(h.is_open(datetime!(2026-12-07 13:00 UTC)));
        // Summer, EDT (-04:00): 08:00 local is 12:00 UTC; a fixed -05:00 would still be shut.
        assert!(h.is_open(datetime!(2026-07-06 12:00 UTC)));
        assert!(!hours().is_open(datetime!(2026-07-06 12:00 UTC)));
        assert!(!h.is_open(datetime!(2026-07-06 11:59 UTC)));
        // Friday 2026-03-06 after closing → Monday 08:00, the first working day in EDT
        // (clocks go forward on Sunday 2026-03-08).
        let next = h.next_open(datetime!(2026-03-07 03:30 UTC)).unwrap();
        assert_eq!(next, datetime!(2026-03-07 10:00 -05:00));
        let next = h.next_open(datetime!(2026-03-07 21:30 UTC)).unwrap();
        assert_eq!(next, datetime!(2026-03-09 08:00 -04:00));
        assert_eq!(
            h.utc_offset(datetime!(2026-07-06 12:00 UTC)),
            UtcOffset::from_hms(-4, 0, 0).unwrap()
        );
    }

    #[test]
    fn bad_values_name_their_field() {
        let mut raw = RawHours {
            utc_offset: Some("EST".into()),
            time_zone: None,
            closed_dates: vec![],
            open: vec![],
        };
        assert_eq!(
            BusinessHours::from_raw(&raw).unwrap_err().0,
            "hours.utc_offset"
        );
        raw.utc_offset = None;
        raw.time_zone = Some("America/Nowhere".into());
        let (field, message) = BusinessHours::from_raw(&raw).unwrap_err();
        assert_eq!(field, "hours.time_zone");
        assert!(message.contains("America/Nowhere"), "{message}");
        raw.utc_offset = Some("-05:00".into());
        raw.time_zone = Some("America/Toronto".into());
        assert!(
            BusinessHours::from_raw(&raw)
                .unwrap_err()
                .1
                .contains("not both")
        );
        raw.time_zone = None;
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
