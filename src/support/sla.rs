//! The first-response target, counted in business hours only: a request
//! sent on Friday evening is not late on Saturday.

use super::settings::SupportSettings;
use chrono::{DateTime, Datelike};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// Business time in milliseconds between two instants (epoch ms).
pub fn business_ms(from: i64, to: i64, s: &SupportSettings) -> i64 {
    if to <= from {
        return 0;
    }
    let offset = s.utc_offset_minutes * 60_000;
    let (local_from, local_to) = (from + offset, to + offset);
    let open = i64::from(s.business_hours.0) * HOUR;
    let close = i64::from(s.business_hours.1) * HOUR;
    let mut total = 0;
    let mut day = local_from.div_euclid(DAY) * DAY;
    // Bounded: past two years the answer is "very late" whatever its exact size.
    for _ in 0..731 {
        if day >= local_to {
            break;
        }
        let weekday = DateTime::from_timestamp_millis(day)
            .map(|d| d.weekday().number_from_monday())
            .unwrap_or(0);
        if (s.business_days.0..=s.business_days.1).contains(&weekday) {
            let start = (day + open).max(local_from);
            let end = (day + close).min(local_to);
            total += (end - start).max(0);
        }
        day += DAY;
    }
    total
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sla {
    /// Answered within the target.
    Met,
    /// Answered, but late.
    Missed,
    /// Not answered yet; this much business time left (ms).
    Due(i64),
    /// Not answered and late by this much business time (ms).
    Overdue(i64),
}

impl Sla {
    pub fn of(created: i64, first_response: Option<i64>, now: i64, s: &SupportSettings) -> Sla {
        let target = s.sla_first_response_hours * HOUR;
        match first_response {
            Some(at) if business_ms(created, at, s) <= target => Sla::Met,
            Some(_) => Sla::Missed,
            None => {
                let used = business_ms(created, now, s);
                if used <= target {
                    Sla::Due(target - used)
                } else {
                    Sla::Overdue(used - target)
                }
            }
        }
    }

    /// CSS class of the badge.
    pub fn class(&self) -> &'static str {
        match self {
            Sla::Met => "badge ok",
            Sla::Due(left) if *left > HOUR => "badge",
            Sla::Due(_) => "badge warn",
            Sla::Missed | Sla::Overdue(_) => "badge error",
        }
    }

    pub fn label(&self) -> String {
        let hours = |ms: &i64| {
            let minutes = ms / 60_000;
            if minutes < 60 {
                format!("{minutes} min")
            } else {
                format!("{} h {:02} min", minutes / 60, minutes % 60)
            }
        };
        match self {
            Sla::Met => "first response on time".into(),
            Sla::Missed => "first response was late".into(),
            Sla::Due(left) => format!("respond within {} business time", hours(left)),
            Sla::Overdue(late) => format!("response overdue by {} business time", hours(late)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> SupportSettings {
        SupportSettings {
            utc_offset_minutes: 0,
            ..SupportSettings::default()
        }
    }

    // 2026-11-06 is a Friday.
    const FRIDAY: i64 = 1_793_923_200_000;

    #[test]
    fn only_business_hours_count() {
        let s = utc();
        assert_eq!(
            DateTime::from_timestamp_millis(FRIDAY).unwrap().weekday(),
            chrono::Weekday::Fri
        );
        // Friday 16:00 to Monday 10:00: one hour on Friday, one on Monday.
        let from = FRIDAY + 16 * HOUR;
        let to = FRIDAY + 3 * DAY + 10 * HOUR;
        assert_eq!(business_ms(from, to, &s), 2 * HOUR);
        // All of Saturday: nothing.
        assert_eq!(business_ms(FRIDAY + DAY, FRIDAY + 2 * DAY, &s), 0);
        // Friday night to the next Friday's midnight: Monday to Thursday.
        assert_eq!(
            business_ms(FRIDAY + 20 * HOUR, FRIDAY + 7 * DAY, &s),
            4 * 8 * HOUR
        );
    }

    #[test]
    fn the_offset_moves_the_working_day() {
        let mut s = utc();
        s.utc_offset_minutes = -8 * 60;
        // 17:00 UTC is 09:00 in UTC-8: the working day starts there.
        assert_eq!(business_ms(FRIDAY + 9 * HOUR, FRIDAY + 18 * HOUR, &s), HOUR);
    }

    #[test]
    fn badges_follow_the_target() {
        let s = utc();
        let created = FRIDAY + 9 * HOUR;
        assert_eq!(Sla::of(created, Some(created + HOUR), 0, &s), Sla::Met);
        assert_eq!(
            Sla::of(created, Some(created + 3 * DAY + 2 * HOUR), 0, &s),
            Sla::Missed
        );
        assert_eq!(
            Sla::of(created, None, created + 2 * HOUR, &s),
            Sla::Due(6 * HOUR)
        );
        let late = Sla::of(created, None, created + 3 * DAY + 3 * HOUR, &s);
        // Eight hours on Friday and three on Monday: three past the target.
        assert_eq!(late, Sla::Overdue(3 * HOUR));
        assert!(late.label().contains("overdue by 3 h 00 min"));
    }
}
