//! Business days for the breach-notice deadline: weekends and US federal
//! holidays (observed dates) are skipped, plus any extra holidays in settings.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n).expect("valid nth weekday")
}

fn last_weekday(year: i32, month: u32, weekday: Weekday) -> NaiveDate {
    let first_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    }
    .expect("valid date");
    let mut d = first_next - Duration::days(1);
    while d.weekday() != weekday {
        d -= Duration::days(1);
    }
    d
}

/// A fixed-date holiday moves to Friday when on Saturday, Monday when on Sunday.
fn observed(d: NaiveDate) -> NaiveDate {
    match d.weekday() {
        Weekday::Sat => d - Duration::days(1),
        Weekday::Sun => d + Duration::days(1),
        _ => d,
    }
}

/// US federal holidays (as observed) falling in `year`.
pub fn us_federal_holidays(year: i32) -> Vec<NaiveDate> {
    let fixed = |m, d| observed(NaiveDate::from_ymd_opt(year, m, d).expect("valid date"));
    let mut days = vec![
        fixed(1, 1),
        nth_weekday(year, 1, Weekday::Mon, 3),
        nth_weekday(year, 2, Weekday::Mon, 3),
        last_weekday(year, 5, Weekday::Mon),
        fixed(6, 19),
        fixed(7, 4),
        nth_weekday(year, 9, Weekday::Mon, 1),
        nth_weekday(year, 10, Weekday::Mon, 2),
        fixed(11, 11),
        nth_weekday(year, 11, Weekday::Thu, 4),
        fixed(12, 25),
    ];
    // Next year's New Year's Day observed on this year's December 31st.
    let next_new_year = observed(NaiveDate::from_ymd_opt(year + 1, 1, 1).expect("valid date"));
    if next_new_year.year() == year {
        days.push(next_new_year);
    }
    days.retain(|d| d.year() == year);
    days
}

pub fn is_business_day(d: NaiveDate, extra_holidays: &[NaiveDate]) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
        && !us_federal_holidays(d.year()).contains(&d)
        && !extra_holidays.contains(&d)
}

/// The date `n` business days after `start` (not counting `start` itself).
pub fn add_business_days(start: NaiveDate, n: u32, extra_holidays: &[NaiveDate]) -> NaiveDate {
    let mut d = start;
    let mut left = n;
    while left > 0 {
        d += Duration::days(1);
        if is_business_day(d, extra_holidays) {
            left -= 1;
        }
    }
    d
}

/// Parses extra holidays from settings: ISO dates separated by commas or lines.
pub fn parse_holidays(text: &str) -> Vec<NaiveDate> {
    text.split([',', '\n', ' '])
        .filter_map(|s| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok())
        .collect()
}

/// Business days after `from` up to and including `to` (0 when `to` is not later).
pub fn business_days_between(from: NaiveDate, to: NaiveDate, extra_holidays: &[NaiveDate]) -> u32 {
    let mut d = from;
    let mut n = 0;
    while d < to {
        d += Duration::days(1);
        if is_business_day(d, extra_holidays) {
            n += 1;
        }
    }
    n
}

/// How a deadline stands, in words for the person who must meet it:
/// "2 business days left", "due today", "overdue by 1 business day".
/// Days are the company's dates (in `zone`), as the deadlines are set.
pub fn deadline_words(
    due_ms: i64,
    now_ms: i64,
    zone: chrono_tz::Tz,
    extra_holidays: &[NaiveDate],
) -> String {
    let date = |ms: i64| crate::platform::zones::date_in(ms, zone);
    let (today, due) = (date(now_ms), date(due_ms));
    let plural = |n: u32| if n == 1 { "" } else { "s" };
    if now_ms <= due_ms {
        match business_days_between(today, due, extra_holidays) {
            0 if today == due => "due today".into(),
            0 => "less than a business day left".into(),
            n => format!("{n} business day{} left", plural(n)),
        }
    } else {
        match business_days_between(due, today, extra_holidays) {
            0 => "overdue since earlier today".into(),
            n => format!("overdue by {n} business day{}", plural(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, day: u32, hour: u32) -> i64 {
        d(y, m, day)
            .and_hms_opt(hour, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    #[test]
    fn deadlines_read_in_business_days() {
        use chrono_tz::UTC;
        // Friday 4 Dec 2026 to Tuesday 8 Dec: Monday and Tuesday count.
        let due = at(2026, 12, 8, 17);
        assert_eq!(
            deadline_words(due, at(2026, 12, 4, 9), UTC, &[]),
            "2 business days left"
        );
        assert_eq!(
            deadline_words(due, at(2026, 12, 7, 9), UTC, &[]),
            "1 business day left"
        );
        assert_eq!(
            deadline_words(due, at(2026, 12, 8, 9), UTC, &[]),
            "due today"
        );
        assert_eq!(
            deadline_words(due, at(2026, 12, 8, 18), UTC, &[]),
            "overdue since earlier today"
        );
        assert_eq!(
            deadline_words(due, at(2026, 12, 9, 9), UTC, &[]),
            "overdue by 1 business day"
        );
        // Due Friday, now Monday: only Monday is a business day late.
        assert_eq!(
            deadline_words(at(2026, 12, 4, 17), at(2026, 12, 7, 9), UTC, &[]),
            "overdue by 1 business day"
        );
        // Christmas (Friday) is no business day: 24 Dec to 28 Dec is 1 left.
        assert_eq!(
            deadline_words(at(2026, 12, 28, 17), at(2026, 12, 24, 9), UTC, &[]),
            "1 business day left"
        );
    }

    #[test]
    fn days_left_count_the_companys_dates_near_midnight_utc() {
        use chrono_tz::America::Los_Angeles as LA;
        // Due at the end of Tuesday 8 Dec 2026 in California (07:59:59 UTC
        // on Wednesday 9).
        let due = crate::platform::zones::end_of(d(2026, 12, 8), LA);
        // Tuesday 23:30 UTC is Tuesday 15:30 there: due today, where the UTC
        // dates (Tuesday to Wednesday) would leave a day.
        assert_eq!(
            deadline_words(due, at(2026, 12, 8, 23) + 1_800_000, LA, &[]),
            "due today"
        );
        assert_eq!(
            deadline_words(due, at(2026, 12, 8, 23) + 1_800_000, chrono_tz::UTC, &[]),
            "1 business day left"
        );
        // Monday 7 Dec, 02:00 UTC is still Sunday there: two business days.
        assert_eq!(
            deadline_words(due, at(2026, 12, 7, 2), LA, &[]),
            "2 business days left"
        );
        // Just after the deadline, Wednesday 08:30 UTC, 00:30 there.
        assert_eq!(
            deadline_words(due, at(2026, 12, 9, 8) + 1_800_000, LA, &[]),
            "overdue by 1 business day"
        );
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn a_week_of_business_days_skips_the_weekend() {
        // Monday + 7 business days = next Wednesday.
        assert_eq!(add_business_days(d(2026, 3, 2), 7, &[]), d(2026, 3, 11));
        // Found on a Saturday: counting starts Monday.
        assert_eq!(add_business_days(d(2026, 3, 7), 7, &[]), d(2026, 3, 17));
    }

    #[test]
    fn thanksgiving_is_skipped() {
        assert!(us_federal_holidays(2026).contains(&d(2026, 11, 26)));
        // Wednesday before Thanksgiving: Fri 27, Mon 30, Dec 1, 2, 3, 4, 7.
        assert_eq!(add_business_days(d(2026, 11, 25), 7, &[]), d(2026, 12, 7));
    }

    #[test]
    fn new_year_and_its_observed_days_are_skipped() {
        // Dec 29 2026 (Tue): Dec 30, 31, (Jan 1 holiday), Jan 4, 5, 6, 7, 8.
        assert_eq!(add_business_days(d(2026, 12, 29), 7, &[]), d(2027, 1, 8));
        // Jan 1 2022 was a Saturday: observed on Friday Dec 31 2021.
        assert!(us_federal_holidays(2021).contains(&d(2021, 12, 31)));
        assert!(!is_business_day(d(2021, 12, 31), &[]));
        // Jan 1 2023 was a Sunday: observed Monday Jan 2.
        assert!(!is_business_day(d(2023, 1, 2), &[]));
    }

    #[test]
    fn extra_holidays_from_settings_count_too() {
        let extra = parse_holidays("2026-03-04, 2026-03-05\nnot-a-date");
        assert_eq!(extra.len(), 2);
        assert_eq!(add_business_days(d(2026, 3, 2), 7, &extra), d(2026, 3, 13));
    }
}
