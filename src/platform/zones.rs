//! Wall-clock times in IANA zones (DST-correct through `chrono-tz`): what
//! staff type into `datetime-local` inputs is read in their zone, and the
//! company's days (today's figures, business days) are its zone's dates.

use chrono::{Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;

/// A moment as a `datetime-local` input shows it, the wall-clock time in
/// `zone`: "2026-12-01T09:00".
pub fn input_in(ms: i64, zone: Tz) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&zone).format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

/// What a person typed in a `datetime-local` input ("2026-12-01T09:00",
/// seconds or a space allowed), read as a wall-clock time in `zone`.
pub fn parse_in(typed: &str, zone: Tz) -> Option<i64> {
    let typed = typed.trim();
    let local = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(typed, f).ok())?;
    local_to_ms(local, zone)
}

/// A wall-clock time in `zone` as a moment. A time the clocks skip (02:30
/// when summer time starts) is read with the offset from before the change,
/// as a clock not yet moved on would show it (02:30 PST is 03:30 PDT); a
/// time that happens twice (when summer time ends) as the first.
pub fn local_to_ms(local: NaiveDateTime, zone: Tz) -> Option<i64> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.timestamp_millis()),
        LocalResult::None => {
            let before = zone
                .offset_from_local_datetime(&(local - Duration::hours(3)))
                .earliest()?
                .fix()
                .local_minus_utc();
            let utc = local - Duration::seconds(before.into());
            Some(utc.and_utc().timestamp_millis())
        }
    }
}

/// The date in `zone` at a moment.
pub fn date_in(ms: i64, zone: Tz) -> NaiveDate {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&zone).date_naive())
        .unwrap_or_default()
}

/// The moment `date` begins in `zone` (midnight, or the first moment after
/// it where a DST change skips midnight).
pub fn start_of(date: NaiveDate, zone: Tz) -> i64 {
    local_to_ms(date.and_time(chrono::NaiveTime::MIN), zone).unwrap_or_default()
}

/// The moment the day holding `ms` began in `zone`.
pub fn start_of_day(ms: i64, zone: Tz) -> i64 {
    start_of(date_in(ms, zone), zone)
}

/// The last second of `date` in `zone` (23:59:59 there).
pub fn end_of(date: NaiveDate, zone: Tz) -> i64 {
    start_of(date + Duration::days(1), zone) - 1_000
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::Los_Angeles as LA;

    fn utc(s: &str) -> i64 {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    #[test]
    fn typed_times_are_read_in_the_viewers_zone_across_dst() {
        // Summer in California is UTC-7, winter UTC-8.
        assert_eq!(
            parse_in("2026-07-15T09:15", LA),
            Some(utc("2026-07-15 16:15"))
        );
        assert_eq!(
            parse_in("2026-01-15 09:40", LA),
            Some(utc("2026-01-15 17:40"))
        );
        // Sunday 8 March 2026: 02:00 PST jumps to 03:00 PDT.
        assert_eq!(
            parse_in("2026-03-08T01:59", LA),
            Some(utc("2026-03-08 09:59"))
        );
        assert_eq!(
            parse_in("2026-03-08T02:30", LA),
            Some(utc("2026-03-08 10:30"))
        );
        assert_eq!(
            parse_in("2026-03-08T03:00", LA),
            Some(utc("2026-03-08 10:00"))
        );
        // Sunday 1 November 2026: 01:30 happens twice; the first (PDT).
        assert_eq!(
            parse_in("2026-11-01T01:30", LA),
            Some(utc("2026-11-01 08:30"))
        );
        assert_eq!(parse_in("2026-13-01T01:30", LA), None);
        assert_eq!(parse_in("soon", LA), None);
        // Shown back as typed.
        assert_eq!(input_in(utc("2026-07-15 16:15"), LA), "2026-07-15T09:15");
        assert_eq!(input_in(utc("2026-01-15 17:40"), LA), "2026-01-15T09:40");
    }

    #[test]
    fn the_company_day_is_its_zones_date() {
        // 03:00 UTC on 8 Dec is still 7 Dec in California.
        let late = utc("2026-12-08 03:00");
        assert_eq!(
            date_in(late, LA),
            NaiveDate::from_ymd_opt(2026, 12, 7).unwrap()
        );
        assert_eq!(start_of_day(late, LA), utc("2026-12-07 08:00"));
        assert_eq!(
            end_of(NaiveDate::from_ymd_opt(2026, 12, 7).unwrap(), LA),
            utc("2026-12-08 07:59") + 59_000
        );
        // The day summer time starts has 23 hours.
        let spring = NaiveDate::from_ymd_opt(2026, 3, 8).unwrap();
        assert_eq!(
            start_of(spring + Duration::days(1), LA) - start_of(spring, LA),
            23 * 3_600_000
        );
    }
}
