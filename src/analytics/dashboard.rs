//! /admin/analytics: visitors and views over a date range with the previous
//! period beside them, drawn as inline SVG (no script); top pages, entry
//! pages, referrers, campaigns, devices, browsers and goals; and the CSV.
//! Both flush first, so they include what was counted a moment ago.

use super::{
    ENABLED_SETTING, GOALS,
    aggregate::{Day, Dim, day_label, parse_day},
    db::{self, Delta},
};
use crate::{
    AppState,
    error::{AppError, AppResult},
    platform::{
        csv::Csv,
        forms::Form,
        settings,
        templates::{Page, render},
    },
    staff::{
        Admin, Staff,
        audit::{self, Actor},
    },
};
use axum::{
    extract::{Query, State},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use std::{collections::HashMap, fmt::Write};

#[derive(Deserialize, Default)]
pub struct RangeQuery {
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Longest range shown at once.
const MAX_DAYS: i64 = 366;

/// The days asked for: the last 30 by default, at most a year.
pub fn range(state: &AppState, q: &RangeQuery) -> Result<(Day, Day), AppError> {
    let today = super::today(state);
    let bad = || {
        AppError::BadRequest(
            "Please give the dates as YYYY-MM-DD, the first not after the second, at most a year apart."
                .into(),
        )
    };
    let parse = |v: &Option<String>, default: Day| match v.as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some(s) => parse_day(s).ok_or_else(bad),
    };
    let to = parse(&q.to, today)?;
    let from = parse(&q.from, to - 29)?;
    if from > to || to - from >= MAX_DAYS {
        return Err(bad());
    }
    Ok((from, to))
}

/// "+25%", "−10%", "new", "±0%".
fn change(now: i64, before: i64) -> String {
    match (now, before) {
        (0, 0) => "±0%".into(),
        (_, 0) => "new".into(),
        _ => {
            let pct = ((now - before) as f64 * 100.0 / before as f64).round() as i64;
            match pct {
                0 => "±0%".into(),
                p if p > 0 => format!("+{p}%"),
                p => format!("−{}%", -p),
            }
        }
    }
}

pub struct DayRow {
    pub date: String,
    pub views: i64,
    pub visitors: i64,
}

/// The chart, laid out in SVG user units: plot area, axes, gridlines with
/// labelled ticks, and one line per series.
pub struct Chart {
    pub width: i64,
    pub height: i64,
    /// The plot area's edges.
    pub left: i64,
    pub right: i64,
    pub top: i64,
    pub bottom: i64,
    /// `(y, label)` of each horizontal gridline, from 0 up.
    pub y_ticks: Vec<(i64, String)>,
    /// `(x, label)` of each labelled day.
    pub x_ticks: Vec<(i64, String)>,
    pub views_points: String,
    pub visitors_points: String,
    pub dots: Vec<(i64, i64, String)>,
}

const CHART_W: i64 = 760;
const CHART_H: i64 = 280;
const LEFT: i64 = 52;
const RIGHT: i64 = 16;
const TOP: i64 = 16;
const BOTTOM: i64 = 40;

/// The smallest "round" number (1, 2 or 5 times a power of ten, times the
/// number of gridlines) at or above `max`, and its step.
fn nice_scale(max: i64, lines: i64) -> (i64, i64) {
    let mut magnitude = 1;
    loop {
        for factor in [1, 2, 5] {
            let step = factor * magnitude;
            if step * lines >= max {
                return (step * lines, step);
            }
        }
        magnitude *= 10;
    }
}

/// "7 Dec" from "2026-12-07".
fn short_date(date: &str) -> String {
    chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .map_or_else(|_| date.to_string(), |d| d.format("%-d %b").to_string())
}

fn chart(days: &[DayRow]) -> Chart {
    let highest = days
        .iter()
        .map(|d| d.views.max(d.visitors))
        .max()
        .unwrap_or(0);
    let (max, step) = nice_scale(highest.max(1), 4);
    let (plot_w, plot_h) = (CHART_W - LEFT - RIGHT, CHART_H - TOP - BOTTOM);
    let n = days.len().max(1) as i64;
    let x = |i: usize| {
        LEFT + if n == 1 {
            plot_w / 2
        } else {
            i as i64 * plot_w / (n - 1)
        }
    };
    let y = |v: i64| TOP + plot_h - v * plot_h / max;
    let mut views_points = String::new();
    let mut visitors_points = String::new();
    let mut dots = Vec::new();
    for (i, d) in days.iter().enumerate() {
        let _ = write!(views_points, "{},{} ", x(i), y(d.views));
        let _ = write!(visitors_points, "{},{} ", x(i), y(d.visitors));
        dots.push((
            x(i),
            y(d.views),
            format!("{}: {} views, {} visitors", d.date, d.views, d.visitors),
        ));
    }
    let y_ticks = (0..=4)
        .map(|k| (y(k * step), (k * step).to_string()))
        .collect();
    // About seven labelled days, the last one always among them.
    let every = (days.len().div_ceil(7)).max(1);
    let mut x_ticks: Vec<(i64, String)> = days
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, d)| (x(i), short_date(&d.date)))
        .collect();
    if let Some(last) = days.len().checked_sub(1)
        && last % every != 0
    {
        // Too close to the previous label: that one gives way.
        if x_ticks
            .last()
            .is_some_and(|(px, _)| x(last) - px < plot_w / 14)
        {
            x_ticks.pop();
        }
        x_ticks.push((x(last), short_date(&days[last].date)));
    }
    Chart {
        width: CHART_W,
        height: CHART_H,
        left: LEFT,
        right: CHART_W - RIGHT,
        top: TOP,
        bottom: TOP + plot_h,
        y_ticks,
        x_ticks,
        views_points: views_points.trim_end().into(),
        visitors_points: visitors_points.trim_end().into(),
        dots,
    }
}

pub struct GoalRow {
    pub label: &'static str,
    pub count: i64,
    pub visitors: i64,
    pub previous: i64,
    pub change: String,
}

#[derive(askama::Template)]
#[template(path = "analytics/dashboard.html")]
struct DashboardPage {
    page: Page,
    enabled: bool,
    from: String,
    to: String,
    prev_from: String,
    prev_to: String,
    views: i64,
    visitors: i64,
    prev_views: i64,
    prev_visitors: i64,
    views_change: String,
    visitors_change: String,
    days: Vec<DayRow>,
    chart: Chart,
    pages: Vec<(String, Delta)>,
    entries: Vec<(String, Delta)>,
    sections: Vec<Section>,
    goals: Vec<GoalRow>,
}

pub struct Section {
    pub title: &'static str,
    pub id: &'static str,
    pub rows: Vec<(String, Delta)>,
}

async fn totals(state: &AppState, from: Day, to: Day) -> anyhow::Result<(i64, i64)> {
    let rows = db::top(&state.db, Dim::Total, from, to, 1).await?;
    Ok(rows
        .first()
        .map(|(_, d)| (d.views, d.visitors))
        .unwrap_or((0, 0)))
}

pub async fn show_dashboard(
    _: Staff<Admin>,
    State(state): State<AppState>,
    page: Page,
    Query(q): Query<RangeQuery>,
) -> AppResult<Response> {
    let (from, to) = range(&state, &q)?;
    super::flush_now(&state).await?;
    let len = to - from + 1;
    let (prev_from, prev_to) = (from - len, from - 1);
    let (views, visitors) = totals(&state, from, to).await?;
    let (prev_views, prev_visitors) = totals(&state, prev_from, prev_to).await?;
    let by_day: HashMap<String, Delta> = db::daily(&state.db, Dim::Total, from, to)
        .await?
        .into_iter()
        .map(|(day, _, d)| (day, d))
        .collect();
    let days: Vec<DayRow> = (from..=to)
        .map(|d| {
            let date = day_label(d);
            let delta = by_day.get(&date).copied().unwrap_or_default();
            DayRow {
                date,
                views: delta.views,
                visitors: delta.visitors,
            }
        })
        .collect();
    let top = |dim| db::top(&state.db, dim, from, to, 20);
    let pages = top(Dim::Path).await?;
    let mut entries: Vec<(String, Delta)> = pages
        .iter()
        .filter(|(_, d)| d.entries > 0)
        .cloned()
        .collect();
    entries.sort_by(|a, b| b.1.entries.cmp(&a.1.entries).then(a.0.cmp(&b.0)));
    let goal_now = db::top(&state.db, Dim::Goal, from, to, 100).await?;
    let goal_before = db::top(&state.db, Dim::Goal, prev_from, prev_to, 100).await?;
    let find = |rows: &[(String, Delta)], g: &str| {
        rows.iter()
            .find(|(k, _)| k == g)
            .map(|(_, d)| *d)
            .unwrap_or_default()
    };
    let goals = GOALS
        .iter()
        .map(|(g, label)| {
            let now = find(&goal_now, g);
            let before = find(&goal_before, g);
            GoalRow {
                label,
                count: now.views,
                visitors: now.visitors,
                previous: before.views,
                change: change(now.views, before.views),
            }
        })
        .collect();
    render(&DashboardPage {
        page: page.titled("Analytics"),
        enabled: state.analytics.enabled(),
        from: day_label(from),
        to: day_label(to),
        prev_from: day_label(prev_from),
        prev_to: day_label(prev_to),
        views,
        visitors,
        prev_views,
        prev_visitors,
        views_change: change(views, prev_views),
        visitors_change: change(visitors, prev_visitors),
        chart: chart(&days),
        days,
        pages,
        entries,
        sections: vec![
            Section {
                title: "Referrers",
                id: "referrers",
                rows: top(Dim::Referrer).await?,
            },
            Section {
                title: "Campaigns (utm_campaign)",
                id: "campaigns",
                rows: top(Dim::Campaign).await?,
            },
            Section {
                title: "Devices",
                id: "devices",
                rows: top(Dim::Device).await?,
            },
            Section {
                title: "Browsers",
                id: "browsers",
                rows: top(Dim::Browser).await?,
            },
        ],
        goals,
    })
}

/// `date,path,views,visitors,entries`, one row per day and path.
pub async fn export_csv(
    _: Staff<Admin>,
    State(state): State<AppState>,
    Query(q): Query<RangeQuery>,
) -> AppResult<Response> {
    let (from, to) = range(&state, &q)?;
    super::flush_now(&state).await?;
    let mut out = Csv::new(["date", "path", "views", "visitors", "entries"])?;
    for (day, path, d) in db::daily(&state.db, Dim::Path, from, to).await? {
        out.row([
            day,
            path,
            d.views.to_string(),
            d.visitors.to_string(),
            d.entries.to_string(),
        ])?;
    }
    Ok(out.download(&format!(
        "analytics-{}-{}.csv",
        day_label(from),
        day_label(to)
    ))?)
}

#[derive(Deserialize)]
pub struct SettingsForm {
    enabled: Option<String>,
}

pub async fn save_settings(
    Staff(user, ..): Staff<Admin>,
    State(state): State<AppState>,
    Form(form): Form<SettingsForm>,
) -> AppResult<Response> {
    let on = form.enabled.is_some_and(|v| !v.is_empty());
    let mut tx = state.db.begin().await?;
    settings::put(&mut tx, ENABLED_SETTING, if on { "1" } else { "0" }).await?;
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        if on { "analytics-on" } else { "analytics-off" },
        "settings",
        "analytics",
        "",
    )
    .await?;
    tx.commit().await?;
    state.analytics.set_enabled(on);
    Ok(Redirect::to("/admin/analytics").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_read_like_people_write_them() {
        assert_eq!(change(0, 0), "±0%");
        assert_eq!(change(5, 0), "new");
        assert_eq!(change(15, 10), "+50%");
        assert_eq!(change(5, 10), "−50%");
        assert_eq!(change(0, 10), "−100%");
    }

    #[test]
    fn the_chart_fits_its_box_on_a_round_scale() {
        let days: Vec<DayRow> = (0..3)
            .map(|i| DayRow {
                date: format!("2026-12-0{}", i + 1),
                views: i * 9,
                visitors: i,
            })
            .collect();
        let c = chart(&days);
        // Highest value 18: gridlines at 0, 5, 10, 15, 20, from the bottom up.
        let labels: Vec<&str> = c.y_ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0", "5", "10", "15", "20"]);
        assert_eq!(c.y_ticks[0].0, c.bottom);
        assert_eq!(c.y_ticks[4].0, c.top);
        assert_eq!(c.views_points, "52,240 398,140 744,39");
        let dates: Vec<&str> = c.x_ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(dates, ["1 Dec", "2 Dec", "3 Dec"]);
        assert_eq!(c.dots.len(), 3);
    }

    #[test]
    fn scales_are_round() {
        assert_eq!(nice_scale(1, 4), (4, 1));
        assert_eq!(nice_scale(7, 4), (8, 2));
        assert_eq!(nice_scale(1_234, 4), (2_000, 500));
    }
}
