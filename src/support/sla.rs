//! Response targets, counted in business hours only: a request sent on
//! Friday evening is not late on Saturday.
//!
//! Two clocks, each with a target per priority ([`Targets`]):
//! - the **first response** runs from the ticket's creation to the first
//!   public reply a person on staff sends;
//! - the **next response** runs from the requester's oldest message that no
//!   public reply has answered yet (`tickets.awaiting_since`) to the reply
//!   that answers it. A second message from them does not move the
//!   deadline; an internal note or a trigger's automatic reply stops
//!   neither clock.
//!
//! Only open and pending tickets wait for anything. A response is
//! *nearing* its target in the last quarter of the target's business time
//! (the last 15 minutes of an urgent ticket's hour, the last 2 hours of a
//! normal ticket's 8); it is *breached* once the target has passed.

use super::{db::TicketRow, labels::PRIORITIES, settings::SupportSettings, tickets::Ticket};
use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeZone};
use chrono_tz::Tz;

pub const MINUTE: i64 = 60_000;
pub const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// A response is nearing its target once no more than `1 / NEARING_SHARE`
/// of the target's business time is left.
pub const NEARING_SHARE: i64 = 4;

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

/// Walks back from `now` through business hours until `amount` of
/// business time lies between the instant reached and `now`. Where that
/// instant could be anywhere in a stretch outside business hours, `latest`
/// picks the stretch's end (an opening), else its start (a closing).
fn business_back(now: i64, amount: i64, latest: bool, s: &SupportSettings, zone: Tz) -> i64 {
    let mut day = DateTime::from_timestamp_millis(now)
        .map(|t| t.with_timezone(&zone).date_naive())
        .unwrap_or_default();
    let mut remaining = amount;
    for _ in 0..731 {
        let weekday = day.weekday().number_from_monday();
        if (s.business_days.0..=s.business_days.1).contains(&weekday) {
            let open = local_hour(zone, day, s.business_hours.0);
            let close = local_hour(zone, day, s.business_hours.1).min(now);
            let len = close - open;
            if len > 0 {
                if remaining < len || (latest && remaining == len) {
                    return close - remaining;
                }
                remaining -= len;
            }
        }
        let Some(before) = day.checked_sub_days(Days::new(1)) else {
            break;
        };
        day = before;
    }
    // Further back than `business_ms` counts: every clock there is breached.
    now - 731 * DAY
}
/// Which answer a ticket waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Response {
    First,
    Next,
}

impl Response {
    pub fn as_str(self) -> &'static str {
        match self {
            Response::First => "first",
            Response::Next => "next",
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            Response::First => "first response",
            Response::Next => "next response",
        }
    }
}

/// Business minutes allowed for each response of one priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub first_min: i64,
    pub next_min: i64,
}

impl Target {
    pub fn ms(self, response: Response) -> i64 {
        MINUTE
            * match response {
                Response::First => self.first_min,
                Response::Next => self.next_min,
            }
    }
}

/// One [`Target`] per priority, in the order of [`PRIORITIES`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Targets(pub [Target; 4]);

impl Default for Targets {
    /// Low 24 h / 48 h, normal 8 h / 16 h (one working day for a first
    /// answer, as before targets had priorities), high 4 h / 8 h, urgent
    /// 1 h / 2 h: first response / next response, in business hours.
    fn default() -> Self {
        let t = |first_h: i64, next_h: i64| Target {
            first_min: first_h * 60,
            next_min: next_h * 60,
        };
        Targets([t(24, 48), t(8, 16), t(4, 8), t(1, 2)])
    }
}

impl Targets {
    /// The target of a priority; an unknown one counts as normal.
    pub fn of(&self, priority: &str) -> Target {
        let i = PRIORITIES.iter().position(|p| *p == priority).unwrap_or(1);
        self.0[i]
    }

    pub fn of_mut(&mut self, priority: &str) -> Option<&mut Target> {
        let i = PRIORITIES.iter().position(|p| *p == priority)?;
        Some(&mut self.0[i])
    }

    pub fn longest_ms(&self) -> i64 {
        self.0
            .iter()
            .map(|t| t.first_min.max(t.next_min) * MINUTE)
            .max()
            .unwrap_or(0)
    }
}

/// The moments of a ticket the clocks read.
#[derive(Clone, Copy, Debug)]
pub struct Timeline<'a> {
    pub created_at: i64,
    pub first_response_at: Option<i64>,
    pub awaiting_since: Option<i64>,
    /// Open or pending (and not merged): solved and closed tickets wait for nothing.
    pub active: bool,
    pub priority: &'a str,
}

fn active(status: &str, merged_into: Option<i64>) -> bool {
    merged_into.is_none() && matches!(status, "open" | "pending")
}

impl<'a> Timeline<'a> {
    pub fn of_ticket(t: &'a Ticket) -> Timeline<'a> {
        Timeline {
            created_at: t.created_at,
            first_response_at: t.first_response_at,
            awaiting_since: t.awaiting_since,
            active: active(&t.status, t.merged_into),
            priority: &t.priority,
        }
    }

    /// From the sealed row: the clocks need nothing personal.
    pub fn of_row(r: &'a TicketRow) -> Timeline<'a> {
        Timeline {
            created_at: r.created_at,
            first_response_at: r.first_response_at,
            awaiting_since: r.awaiting_since,
            active: active(&r.status, r.merged_into),
            priority: &r.priority,
        }
    }

    /// The response the ticket waits for and since when, if any.
    pub fn awaited(&self) -> Option<(Response, i64)> {
        if !self.active {
            return None;
        }
        match self.first_response_at {
            None => Some((Response::First, self.created_at)),
            Some(_) => self.awaiting_since.map(|since| (Response::Next, since)),
        }
    }
}

/// What the clocks say about a ticket at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sla {
    /// Nothing waits for an answer; the first response was on time.
    Met,
    /// Nothing waits for an answer; the first response was late.
    Missed,
    /// Solved or closed before anyone answered.
    Idle,
    /// A response is awaited: `left` of its `target` business time remains (ms).
    Due {
        response: Response,
        left: i64,
        target: i64,
    },
    /// A response is awaited and `late` business time past its target (ms).
    Overdue { response: Response, late: i64 },
}

impl Sla {
    pub fn of(t: &Timeline, now: i64, s: &SupportSettings, zone: Tz) -> Sla {
        let target = s.sla_targets.of(t.priority);
        match t.awaited() {
            Some((response, since)) => {
                let target = target.ms(response);
                let used = business_ms(since, now, s, zone);
                if used <= target {
                    Sla::Due {
                        response,
                        left: target - used,
                        target,
                    }
                } else {
                    Sla::Overdue {
                        response,
                        late: used - target,
                    }
                }
            }
            None => match t.first_response_at {
                Some(at)
                    if business_ms(t.created_at, at, s, zone) <= target.ms(Response::First) =>
                {
                    Sla::Met
                }
                Some(_) => Sla::Missed,
                None => Sla::Idle,
            },
        }
    }

    /// The clocks of a decrypted ticket.
    pub fn of_ticket(t: &Ticket, now: i64, s: &SupportSettings, zone: Tz) -> Sla {
        Sla::of(&Timeline::of_ticket(t), now, s, zone)
    }

    /// In the last quarter of its target.
    pub fn nearing(&self) -> bool {
        matches!(self, Sla::Due { left, target, .. } if left * NEARING_SHARE <= *target)
    }

    /// Awaited and past its target.
    pub fn breached(&self) -> bool {
        matches!(self, Sla::Overdue { .. })
    }

    /// Whether this is what the inbox's SLA filter (`nearing` or `breached`) asks for.
    pub fn is(&self, filter: SlaFilter) -> bool {
        match filter {
            SlaFilter::Any => true,
            SlaFilter::Nearing => self.nearing(),
            SlaFilter::Breached => self.breached(),
        }
    }

    /// The response awaited, if any.
    pub fn response(&self) -> Option<Response> {
        match self {
            Sla::Due { response, .. } | Sla::Overdue { response, .. } => Some(*response),
            _ => None,
        }
    }

    /// Sorts the most urgent first: breached (most late first), then the
    /// least time left, then the tickets that wait for nothing.
    pub fn urgency(&self) -> (u8, i64) {
        match self {
            Sla::Overdue { late, .. } => (0, -late),
            Sla::Due { left, .. } => (1, *left),
            _ => (2, 0),
        }
    }

    /// CSS class of the badge (its text says the same).
    pub fn class(&self) -> &'static str {
        match self {
            Sla::Met => "badge ok sla",
            Sla::Overdue { .. } => "badge error sla",
            _ if self.nearing() => "badge warn sla",
            _ => "badge sla",
        }
    }

    pub fn label(&self) -> String {
        match self {
            Sla::Met => "first response on time".into(),
            Sla::Missed => "first response was late".into(),
            Sla::Idle => "no response due".into(),
            Sla::Due { response, left, .. } => format!(
                "{}{} due in {} of business time",
                if self.nearing() {
                    "Nearing target: "
                } else {
                    ""
                },
                response.words(),
                duration_words(*left, true)
            ),
            Sla::Overdue { response, late } => format!(
                "Breached: {} overdue by {} of business time",
                response.words(),
                duration_words(*late, false)
            ),
        }
    }

    /// How much business time is left, in words ("25 min"), for a
    /// response awaited and not yet late.
    pub fn left_words(&self) -> String {
        match self {
            Sla::Due { left, .. } => duration_words(*left, true),
            _ => String::new(),
        }
    }

    /// How late, in words ("2 h 15 min"), for a breached response.
    pub fn late_words(&self) -> String {
        match self {
            Sla::Overdue { late, .. } => duration_words(*late, false),
            _ => String::new(),
        }
    }
}

/// The inbox's SLA filter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SlaFilter {
    #[default]
    Any,
    Nearing,
    Breached,
}

impl std::str::FromStr for SlaFilter {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "" => Ok(SlaFilter::Any),
            "nearing" => Ok(SlaFilter::Nearing),
            "breached" => Ok(SlaFilter::Breached),
            _ => Err("Please choose nearing or breached for the SLA filter."),
        }
    }
}

/// The clock starts that give tickets of one priority, waiting for one
/// response, a given SLA state at one moment: `from` (inclusive, `None`
/// for any time before) to `until` (exclusive), epoch ms. The database
/// picks the tickets with them; the verdict is [`Sla::is`]'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartWindow {
    pub priority: &'static str,
    pub response: Response,
    pub from: Option<i64>,
    pub until: i64,
}

impl SlaFilter {
    /// The windows of this filter at `now`, one per priority and response;
    /// `None` for [`SlaFilter::Any`].
    pub fn windows(self, now: i64, s: &SupportSettings, zone: Tz) -> Option<Vec<StartWindow>> {
        if self == SlaFilter::Any {
            return None;
        }
        let mut windows = vec![];
        for priority in PRIORITIES {
            for response in [Response::First, Response::Next] {
                let target = s.sla_targets.of(priority).ms(response);
                // Breached: more than the target since the start.
                let breach = business_back(now, target, false, s, zone);
                windows.push(match self {
                    SlaFilter::Breached => StartWindow {
                        priority,
                        response,
                        from: None,
                        until: breach,
                    },
                    _ => {
                        // Nearing: at most a quarter of the target left.
                        let used = target - target / NEARING_SHARE;
                        let nearing = business_back(now, used, true, s, zone);
                        StartWindow {
                            priority,
                            response,
                            from: Some(breach),
                            until: nearing + 1,
                        }
                    }
                });
            }
        }
        Some(windows)
    }
}

/// Business time in words: "45 min", "2 h", "1 h 30 min"; under a minute
/// is "less than a minute". `round_up` for time left (never "0 min" while
/// some is left), down for time past.
pub fn duration_words(ms: i64, round_up: bool) -> String {
    let minutes = if round_up {
        (ms + MINUTE - 1).div_euclid(MINUTE)
    } else {
        ms.div_euclid(MINUTE)
    };
    match (minutes / 60, minutes % 60) {
        _ if minutes < 1 => "less than a minute".into(),
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// A target as typed and shown in the settings ("8 h", "45 min",
/// "1 h 30 min"), in minutes.
pub fn minutes_words(minutes: i64) -> String {
    duration_words(minutes * MINUTE, false)
}

/// Reads a business time typed by an admin: "4", "4 h", "45 min",
/// "1 h 30 min", "90m" (a bare number is hours), in whole minutes.
pub fn parse_minutes(typed: &str) -> Option<i64> {
    let v = typed.trim().to_lowercase();
    if v.len() > 40 {
        return None;
    }
    if let Ok(hours) = v.parse::<i64>() {
        return hours.checked_mul(60).filter(|m| *m >= 0);
    }
    let (mut total, mut rest) = (0i64, v.as_str());
    let (mut hours_seen, mut minutes_seen) = (false, false);
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 6 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = rest[digits..].trim_start();
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..letters];
        rest = &rest[letters..];
        match unit {
            "h" | "hr" | "hrs" | "hour" | "hours" if !hours_seen && !minutes_seen => {
                total += n * 60;
                hours_seen = true;
            }
            "m" | "min" | "mins" | "minute" | "minutes" if !minutes_seen => {
                total += n;
                minutes_seen = true;
            }
            _ => return None,
        }
    }
    (hours_seen || minutes_seen).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 24 * HOUR;
    const UTC: Tz = chrono_tz::UTC;
    const PACIFIC: Tz = chrono_tz::America::Los_Angeles;

    // 2026-11-06 is a Friday.
    const FRIDAY: i64 = 1_793_923_200_000;

    fn timeline(priority: &str) -> Timeline<'_> {
        Timeline {
            created_at: FRIDAY + 9 * HOUR,
            first_response_at: None,
            awaiting_since: None,
            active: true,
            priority,
        }
    }

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
    fn the_first_response_target_follows_the_priority() {
        let s = SupportSettings::default();
        let normal = timeline("normal");
        let created = normal.created_at;
        let answered = |at| Timeline {
            first_response_at: Some(at),
            ..normal
        };
        assert_eq!(Sla::of(&answered(created + HOUR), 0, &s, UTC), Sla::Met);
        assert_eq!(
            Sla::of(&answered(created + 3 * DAY + 2 * HOUR), 0, &s, UTC),
            Sla::Missed
        );
        let due = Sla::of(&normal, created + 2 * HOUR, &s, UTC);
        assert_eq!(
            due,
            Sla::Due {
                response: Response::First,
                left: 6 * HOUR,
                target: 8 * HOUR
            }
        );
        assert!(!due.nearing() && !due.breached());
        assert_eq!(due.label(), "first response due in 6 h of business time");
        // Eight hours on Friday and three on Monday: three past the target.
        let late = Sla::of(&normal, created + 3 * DAY + 3 * HOUR, &s, UTC);
        assert_eq!(
            late,
            Sla::Overdue {
                response: Response::First,
                late: 3 * HOUR
            }
        );
        assert!(late.breached());
        assert_eq!(
            late.label(),
            "Breached: first response overdue by 3 h of business time"
        );
        // Urgent: one hour, so 45 minutes in it is nearing, 61 breached.
        let urgent = timeline("urgent");
        let near = Sla::of(&urgent, created + 45 * MINUTE, &s, UTC);
        assert!(near.nearing(), "{near:?}");
        assert_eq!(
            near.label(),
            "Nearing target: first response due in 15 min of business time"
        );
        assert_eq!(near.class(), "badge warn sla");
        assert!(!Sla::of(&urgent, created + 44 * MINUTE, &s, UTC).nearing());
        assert!(Sla::of(&urgent, created + 61 * MINUTE, &s, UTC).breached());
        // Low: a whole day, nowhere near after eight hours.
        assert!(matches!(
            Sla::of(&timeline("low"), created + 8 * HOUR, &s, UTC),
            Sla::Due { left, .. } if left == 16 * HOUR
        ));
    }

    #[test]
    fn the_next_response_runs_from_the_oldest_unanswered_message() {
        let s = SupportSettings::default();
        let created = FRIDAY - 4 * DAY + 9 * HOUR; // Monday 09:00
        let answered = Timeline {
            created_at: created,
            first_response_at: Some(created + HOUR),
            awaiting_since: None,
            active: true,
            priority: "high",
        };
        assert_eq!(Sla::of(&answered, FRIDAY, &s, UTC), Sla::Met);
        // They wrote back on Friday at 15:00: 8 business hours for high.
        let written = Timeline {
            awaiting_since: Some(FRIDAY + 15 * HOUR),
            ..answered
        };
        assert_eq!(
            Sla::of(&written, FRIDAY + 16 * HOUR, &s, UTC),
            Sla::Due {
                response: Response::Next,
                left: 7 * HOUR,
                target: 8 * HOUR
            }
        );
        // Not nearing over the weekend (two hours used on Friday)...
        let sunday_night = Sla::of(&written, FRIDAY + 2 * DAY + 23 * HOUR, &s, UTC);
        assert!(!sunday_night.nearing() && !sunday_night.breached());
        // ...nearing on Monday once two hours are left (13:00), breached after 15:00.
        assert!(!Sla::of(&written, FRIDAY + 3 * DAY + 12 * HOUR, &s, UTC).nearing());
        let near = Sla::of(&written, FRIDAY + 3 * DAY + 14 * HOUR, &s, UTC);
        assert!(near.nearing());
        assert_eq!(
            near.label(),
            "Nearing target: next response due in 1 h of business time"
        );
        let late = Sla::of(
            &written,
            FRIDAY + 3 * DAY + 16 * HOUR + 30 * MINUTE,
            &s,
            UTC,
        );
        assert_eq!(late.late_words(), "1 h 30 min");
        assert_eq!(
            late.label(),
            "Breached: next response overdue by 1 h 30 min of business time"
        );
        // Solved or closed: nothing is awaited; without an answer, idle.
        let solved = Timeline {
            active: false,
            ..written
        };
        assert_eq!(Sla::of(&solved, FRIDAY + 9 * DAY, &s, UTC), Sla::Met);
        let unanswered_closed = Timeline {
            active: false,
            ..timeline("normal")
        };
        assert_eq!(
            Sla::of(&unanswered_closed, FRIDAY + 9 * DAY, &s, UTC),
            Sla::Idle
        );
    }

    #[test]
    fn tickets_sort_most_urgent_first() {
        let s = SupportSettings::default();
        let now = FRIDAY + 3 * DAY + 12 * HOUR;
        let mut slas = [
            Sla::of(&timeline("low"), now, &s, UTC),
            Sla::of(&timeline("normal"), now, &s, UTC),
            Sla::of(&timeline("urgent"), now, &s, UTC),
            Sla::Met,
        ];
        slas.sort_by_key(Sla::urgency);
        assert!(matches!(slas[0], Sla::Overdue { late, .. } if late == 10 * HOUR));
        assert!(matches!(slas[1], Sla::Overdue { late, .. } if late == 3 * HOUR));
        assert!(matches!(slas[2], Sla::Due { .. }));
        assert_eq!(slas[3], Sla::Met);
    }

    #[test]
    fn the_windows_pick_the_tickets_the_clocks_do() {
        // Any start, any moment (weekends, nights, the change to winter
        // time): the database's windows and the arithmetic agree, to the
        // millisecond at the edges.
        let s = SupportSettings::default();
        let in_window =
            |w: &StartWindow, start: i64| w.from.is_none_or(|f| start >= f) && start < w.until;
        let mut edges = 0;
        for zone in [UTC, PACIFIC] {
            for now in [
                FRIDAY + 16 * HOUR + 7 * MINUTE,
                FRIDAY + 2 * DAY + 12 * HOUR,
                FRIDAY + 3 * DAY + 17 * HOUR + 30 * MINUTE,
                FRIDAY - 5 * DAY + 3 * HOUR,
            ] {
                for filter in [SlaFilter::Nearing, SlaFilter::Breached] {
                    let windows = filter.windows(now, &s, zone).unwrap();
                    assert_eq!(windows.len(), 8);
                    for w in &windows {
                        let mut starts: Vec<i64> =
                            (0..400).map(|i| now - i * 17 * MINUTE).collect();
                        for edge in [Some(w.until), w.from].into_iter().flatten() {
                            starts.extend([edge - 1, edge, edge + 1]);
                        }
                        for start in starts {
                            let t = Timeline {
                                created_at: start,
                                first_response_at: (w.response == Response::Next)
                                    .then_some(start - DAY),
                                awaiting_since: (w.response == Response::Next).then_some(start),
                                active: true,
                                priority: w.priority,
                            };
                            let sla = Sla::of(&t, now, &s, zone);
                            assert_eq!(
                                sla.is(filter),
                                in_window(w, start),
                                "{filter:?} {w:?} start {start} now {now}: {sla:?}"
                            );
                            edges += usize::from(sla.is(filter));
                        }
                    }
                }
            }
        }
        assert!(edges > 100, "the samples hit both states: {edges}");
    }

    #[test]
    fn business_times_read_and_write_in_words() {
        assert_eq!(parse_minutes("4"), Some(240));
        assert_eq!(parse_minutes(" 4 h "), Some(240));
        assert_eq!(parse_minutes("45 min"), Some(45));
        assert_eq!(parse_minutes("1 h 30 min"), Some(90));
        assert_eq!(parse_minutes("1h30m"), Some(90));
        assert_eq!(parse_minutes("2 Hours"), Some(120));
        for bad in [
            "",
            "h",
            "1.5 h",
            "-2",
            "-2 h",
            "1 day",
            "30 min 1 h",
            "1 h 1 h",
            "ten",
            "99999999999 h",
            "1 h; DROP",
        ] {
            assert_eq!(parse_minutes(bad), None, "{bad}");
        }
        assert_eq!(minutes_words(480), "8 h");
        assert_eq!(minutes_words(45), "45 min");
        assert_eq!(minutes_words(90), "1 h 30 min");
        assert_eq!(duration_words(30_000, true), "1 min");
        assert_eq!(duration_words(30_000, false), "less than a minute");
        assert_eq!(duration_words(44 * MINUTE + 1, true), "45 min");
    }
}
