//! The traffic figures in the JSON API: per day and path, as the CSV
//! export gives them (aggregates only; nothing about a visitor).

use super::{
    aggregate::Dim,
    dashboard::{RangeQuery, range},
    db,
};
use crate::{
    AppState,
    platform::api::{ApiError, ApiResult, Json, Query, Refusals, cursor, page_size, parse_cursor},
    staff::tokens::{AnalyticsRead, Bearer},
};
use axum::{Router, extract::State, routing::get};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/analytics/daily", get(daily_figures))
}

/// This feature's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(daily_figures))]
pub struct Doc;

/// One day's figures for one path.
#[derive(Serialize, ToSchema)]
pub struct DailyFigure {
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
    pub path: String,
    pub views: i64,
    /// Distinct visitors that day (a daily salted hash; never stored).
    pub visitors: i64,
    /// Visits that began on this path.
    pub entries: i64,
}

/// One page of daily figures, oldest day first.
#[derive(Serialize, ToSchema)]
pub struct DailyFigures {
    pub items: Vec<DailyFigure>,
    /// Pass as `?cursor=` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct DailyQuery {
    /// First day, `YYYY-MM-DD`; 29 days before `to` when not given.
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD`; today when not given. At most a year after `from`.
    pub to: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 100; 50 when not given.
    pub limit: Option<i64>,
}

/// Daily views, visitors and entries per path.
#[utoipa::path(get, path = "/api/v1/analytics/daily", tag = "analytics",
    params(DailyQuery),
    responses((status = 200, description = "A page of figures", body = DailyFigures), Refusals),
    security(("bearer" = ["analytics:read"])))]
pub async fn daily_figures(
    _: Bearer<AnalyticsRead>,
    State(state): State<AppState>,
    Query(query): Query<DailyQuery>,
) -> ApiResult<Json<DailyFigures>> {
    let limit = page_size(query.limit)?;
    let offset = parse_cursor(query.cursor.as_deref())?.map_or(0, |(o, _)| o.max(0));
    let days = RangeQuery {
        from: query.from,
        to: query.to,
    };
    let (from, to) = range(&state, &days).map_err(ApiError::on_field("from"))?;
    super::flush_now(&state).await?;
    let rows = db::daily(&state.db, Dim::Path, from, to).await?;
    let total = rows.len() as i64;
    let items: Vec<DailyFigure> = rows
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .map(|(date, path, d)| DailyFigure {
            date,
            path,
            views: d.views,
            visitors: d.visitors,
            entries: d.entries,
        })
        .collect();
    let next = offset + items.len() as i64;
    Ok(Json(DailyFigures {
        next_cursor: (next < total).then(|| cursor(next, 0)),
        items,
    }))
}
