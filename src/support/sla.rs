//! The first-response target, counted in business hours only: a request
//! sent on Friday evening is not late on Saturday.

use super::settings::SupportSettings;
use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeZone};
use chrono_tz::Tz;

const HOUR: i64 = 3_600_000;

/// The instant (epoch ms) a local wall-clock hour begins on `date` in
/// `zone`; hour 24 is the next day's midnight. A skipped hour (spring
/// forward) counts from the first instant after the gap.
fn local_hour(zone: Tz, date: NaiveDate, hour: u32) -> i64 {
    let (date, hour) = if hour >= 24 {
        (date + Days::new(1), 0)
    } else {
        (date, hour)
    };
    let mut at = date.and_time(NaiveTime::from_hms_opt(hour, 0, 0).unwrap_or_default());
    // At most a couple of hours are ever skipped.
    for _ in 0..4 {
        if let Some(t) = zone.from_local_datetime(&at).earliest() {
            return t.timestamp_millis();
        }
        at += chrono::Duration::minutes(30);
    }
    at.and_utc().timestamp_millis()
}

/// Business time in milliseconds between two instants (epoch ms), business
/// hours being local time in the company's `zone` (DST-correct).
pub fn business_ms(from: i64, to: i64, s: &SupportSettings, zone: Tz) -> i64 {
    if to <= from {
        return 0;
    }
    let local_date = |ms: i64| {
        DateTime::from_timestamp_millis(ms)
            .map(|t| t.with_timezone(&zone).date_naive())
            .unwrap_or_default()
    };
    let (mut day, last) = (local_date(from), local_date(to));
    let mut total = 0;
    // Bounded: past two years the answer is "very late" whatever its exact size.
    for _ in 0..731 {
        if day > last {
            break;
        }
        let weekday = day.weekday().number_from_monday();
        if (s.business_days.0..=s.business_days.1).contains(&weekday) {
            let start = local_hour(zone, day, s.business_hours.0).max(from);
            let end = local_hour(zone, day, s.business_hours.1).min(to);
            total += (end - start).max(0);
        }
        day = day + Days::new(1);
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
    pub fn of(
        created: i64,
        first_response: Option<i64>,
        now: i64,
        s: &SupportSettings,
        zone: Tz,
    ) -> Sla {
        let target = s.sla_first_response_hours * HOUR;
        match first_response {
            Some(at) if business_ms(created, at, s, zone) <= target => Sla::Met,
            Some(_) => Sla::Missed,
            None => {
                let used = business_ms(created, now, s, zone);
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

    const DAY: i64 = 24 * HOUR;
    const UTC: Tz = chrono_tz::UTC;
    const PACIFIC: Tz = chrono_tz::America::Los_Angeles;

    // 2026-11-06 is a Friday.
    const FRIDAY: i64 = 1_793_923_200_000;

    #[test]
    fn only_business_hours_count() {
        let s = SupportSettings::default();
        assert_eq!(
            DateTime::from_timestamp_millis(FRIDAY).unwrap().weekday(),
            chrono::Weekday::Fri
        );
        // Friday 16:00 to Monday 10:00: one hour on Friday, one on Monday.
        let from = FRIDAY + 16 * HOUR;
        let to = FRIDAY + 3 * DAY + 10 * HOUR;
        assert_eq!(business_ms(from, to, &s, UTC), 2 * HOUR);
        // All of Saturday: nothing.
        assert_eq!(business_ms(FRIDAY + DAY, FRIDAY + 2 * DAY, &s, UTC), 0);
        // Friday night to the next Friday's midnight: Monday to Thursday.
        assert_eq!(
            business_ms(FRIDAY + 20 * HOUR, FRIDAY + 7 * DAY, &s, UTC),
            4 * 8 * HOUR
        );
    }

    #[test]
    fn the_company_zone_moves_the_working_day_with_daylight_saving() {
        let s = SupportSettings::default();
        // Friday 6 November 2026 is after the change back: PST, UTC-8, so
        // the day opens at 17:00 UTC.
        assert_eq!(
            business_ms(FRIDAY + 9 * HOUR, FRIDAY + 18 * HOUR, &s, PACIFIC),
            HOUR
        );
        // Friday 30 October 2026, still PDT (UTC-7): it opens at 16:00 UTC.
        let summer_friday = FRIDAY - 7 * DAY;
        assert_eq!(
            business_ms(
                summer_friday + 9 * HOUR,
                summer_friday + 18 * HOUR,
                &s,
                PACIFIC
            ),
            2 * HOUR
        );
        // Across the change (Sunday 1 November): Friday 16:00 PDT to Monday
        // 10:00 PST is one hour on each side, however long the weekend was.
        let from = summer_friday + 23 * HOUR; // 16:00 PDT
        let to = FRIDAY - 4 * DAY + 18 * HOUR; // Monday 2 November, 10:00 PST
        assert_eq!(business_ms(from, to, &s, PACIFIC), 2 * HOUR);
    }

    #[test]
    fn badges_follow_the_target() {
        let s = SupportSettings::default();
        let created = FRIDAY + 9 * HOUR;
        assert_eq!(Sla::of(created, Some(created + HOUR), 0, &s, UTC), Sla::Met);
        assert_eq!(
            Sla::of(created, Some(created + 3 * DAY + 2 * HOUR), 0, &s, UTC),
            Sla::Missed
        );
        assert_eq!(
            Sla::of(created, None, created + 2 * HOUR, &s, UTC),
            Sla::Due(6 * HOUR)
        );
        let late = Sla::of(created, None, created + 3 * DAY + 3 * HOUR, &s, UTC);
        // Eight hours on Friday and three on Monday: three past the target.
        assert_eq!(late, Sla::Overdue(3 * HOUR));
        assert!(late.label().contains("overdue by 3 h 00 min"));
    }
}
