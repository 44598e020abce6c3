//! The newsletter in the JSON API: subscribers listed, added (double
//! opt-in, or an audited `confirmed` import), unsubscribed (suppressed at
//! once, as the mail's link does) and their topics changed; campaigns
//! listed with their figures. Each call uses the functions the pages use.

use super::{
    TOPICS,
    campaigns::{self, Figures},
    db,
    public::{request_subscription, topic_labels, unsubscribe_subscriber},
    subscribers::{ImportRow, Listed, import_rows, open_rows},
    topics_to_text,
};
use crate::{
    AppState,
    platform::{
        ClientIp,
        api::{
            ApiError, ApiResult, Id, Json, Query, Refusals, cursor, page_size, parse_cursor, time,
        },
        forms::{EmailAddress, text},
        subjects::{self, Subject},
    },
    staff::{
        audit::{self, Actor},
        tokens::{Bearer, Caller, SubscribersRead, SubscribersWrite},
    },
};
use axum::{
    Router,
    extract::State,
    http::StatusCode,
    routing::{get, post, put},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/subscribers",
            get(list_subscribers).post(add_subscriber),
        )
        .route("/api/v1/subscribers/{id}/unsubscribe", post(unsubscribe))
        .route("/api/v1/subscribers/{id}/topics", put(set_topics))
        .route("/api/v1/campaigns", get(list_campaigns))
        .route("/api/v1/campaigns/{id}/stats", get(campaign_stats))
}

/// This feature's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_subscribers,
    add_subscriber,
    unsubscribe,
    set_topics,
    list_campaigns,
    campaign_stats
))]
pub struct Doc;

/// A subscriber.
#[derive(Serialize, ToSchema)]
pub struct Subscriber {
    pub id: i64,
    pub email: String,
    pub name: String,
    /// `pending` (not confirmed yet), `confirmed` or `unsubscribed`.
    pub status: String,
    /// Topic keys: `product-updates`, `tips`, `offers`.
    pub topics: Vec<String>,
    pub created_at: String,
    pub confirmed_at: Option<String>,
    /// Where the consent came from (the form, an import and its source).
    pub consent_source: String,
}

impl From<&Listed> for Subscriber {
    fn from(s: &Listed) -> Subscriber {
        Subscriber {
            id: s.id,
            email: s.email.clone(),
            name: s.name.clone(),
            status: s.row.status.clone(),
            topics: s
                .row
                .topics
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
            created_at: time(s.row.created_at),
            confirmed_at: s.row.confirmed_at.map(time),
            consent_source: s.row.consent_source.clone(),
        }
    }
}

/// One page of subscribers, oldest first.
#[derive(Serialize, ToSchema)]
pub struct SubscriberList {
    pub items: Vec<Subscriber>,
    /// Pass as `?cursor=` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct SubscriberListQuery {
    /// `pending`, `confirmed` or `unsubscribed`; any when not given.
    pub status: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 100; 50 when not given.
    pub limit: Option<i64>,
}

/// Records a read or change of subscribers as the token's owner.
async fn audit_alone(
    state: &AppState,
    caller: &Caller,
    action: &str,
    id: &str,
    detail: &str,
) -> ApiResult<()> {
    let mut tx = state.db.begin().await?;
    let detail = format!("{detail} via API token “{}”", caller.token_name);
    audit::record(
        &mut tx,
        Actor::Staff(&caller.user),
        action,
        "subscriber",
        id,
        &detail,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Lists subscribers.
#[utoipa::path(get, path = "/api/v1/subscribers", tag = "newsletter",
    params(SubscriberListQuery),
    responses((status = 200, description = "A page of subscribers", body = SubscriberList), Refusals),
    security(("bearer" = ["subscribers:read"])))]
pub async fn list_subscribers(
    Bearer(caller, ..): Bearer<SubscribersRead>,
    State(state): State<AppState>,
    Query(query): Query<SubscriberListQuery>,
) -> ApiResult<Json<SubscriberList>> {
    let limit = page_size(query.limit)?;
    let after = parse_cursor(query.cursor.as_deref())?.map_or(0, |(_, id)| id);
    let status = query.status.unwrap_or_default();
    if !["", "pending", "confirmed", "unsubscribed"].contains(&status.as_str()) {
        return Err(ApiError::field(
            "status",
            "Use pending, confirmed or unsubscribed.",
        ));
    }
    // One row more than the page says whether another page follows; only
    // the page is decrypted.
    let mut rows = db::subscribers_after(&state.db, after, &status, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let last = rows.last().map(|r| r.id);
    let items: Vec<Subscriber> = open_rows(&state, rows)
        .await?
        .iter()
        .map(Subscriber::from)
        .collect();
    let ids: Vec<String> = items.iter().map(|s| s.id.to_string()).collect();
    audit_alone(
        &state,
        &caller,
        "list-subscribers",
        "",
        &format!("{} subscribers: {}", items.len(), ids.join(",")),
    )
    .await?;
    Ok(Json(SubscriberList {
        // The last row read, even if its person was erased meanwhile.
        next_cursor: last.filter(|_| more).map(|id| cursor(0, id)),
        items,
    }))
}

/// Someone to add to the newsletter.
#[derive(Deserialize, ToSchema)]
pub struct NewSubscriber {
    pub email: String,
    #[serde(default)]
    pub name: String,
    /// Topic keys; all topics when empty.
    #[serde(default)]
    pub topics: Vec<String>,
    /// `false` (the default): the person gets the double opt-in mail and
    /// receives nothing until they confirm. `true`: an import of someone
    /// who already agreed elsewhere (name where in `consent_source`);
    /// audited. An address that unsubscribed or was erased is never brought back.
    #[serde(default)]
    pub confirmed: bool,
    /// Where the consent came from; required with `confirmed`.
    #[serde(default)]
    pub consent_source: String,
}

/// What adding did.
#[derive(Serialize, ToSchema)]
pub struct Added {
    /// `pending` (confirmation mailed), `confirmed` (imported), `already`
    /// (already confirmed) or `suppressed` (unsubscribed or erased before: not added).
    pub result: String,
}

/// Adds a subscriber.
#[utoipa::path(post, path = "/api/v1/subscribers", tag = "newsletter",
    request_body = NewSubscriber,
    responses((status = 202, description = "Added, or mailed for confirmation", body = Added), Refusals),
    security(("bearer" = ["subscribers:write"])))]
pub async fn add_subscriber(
    Bearer(caller, ..): Bearer<SubscribersWrite>,
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(new): Json<NewSubscriber>,
) -> ApiResult<(StatusCode, Json<Added>)> {
    let email: EmailAddress = new
        .email
        .parse()
        .map_err(|m: &str| ApiError::field("email", m))?;
    let name = text(&new.name, 100).map_err(|m| ApiError::field("name", m))?;
    if let Some(unknown) = new
        .topics
        .iter()
        .find(|t| !TOPICS.iter().any(|(k, _)| k == t))
    {
        return Err(ApiError::field(
            "topics",
            format!("Unknown topic “{unknown}”."),
        ));
    }
    let mut topics = topics_to_text(&new.topics);
    if topics.is_empty() {
        topics = TOPICS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(",");
    }
    let result = if new.confirmed {
        let source = text(&new.consent_source, 200)
            .map_err(|m| ApiError::field("consent_source", m))?
            .ok_or_else(|| {
                ApiError::field(
                    "consent_source",
                    "Say where this person agreed to the newsletter.",
                )
            })?;
        let row = ImportRow {
            line: 1,
            email: email.as_str().into(),
            name: name.clone().unwrap_or_default(),
            topics: topics.replace(',', ";"),
        };
        let report = import_rows(
            &state,
            &[row],
            &format!("{source} (API token “{}”)", caller.token_name),
        )
        .await?;
        let result = if report.added == 1 {
            "confirmed"
        } else if report.already == 1 {
            "already"
        } else {
            "suppressed"
        };
        audit_alone(
            &state,
            &caller,
            "import",
            "",
            &format!("1 address, consent from “{source}”: {result}"),
        )
        .await?;
        result
    } else {
        let source = format!("API token “{}” of {}", caller.token_name, caller.user.email);
        request_subscription(&state, &email, name.as_deref(), &topics, &source, ip).await?;
        audit_alone(
            &state,
            &caller,
            "subscribe",
            "",
            "1 address sent the confirmation mail",
        )
        .await?;
        "pending"
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(Added {
            result: result.into(),
        }),
    ))
}

/// Opens one subscriber, or 404 (also once erased).
async fn load(state: &AppState, id: i64) -> ApiResult<(db::SubscriberRow, Subject, String)> {
    let row = db::subscriber(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let keys = subjects::keys_of(&state.db, &state.keyring, &[row.subject_id]).await?;
    let key = keys.get(&row.subject_id).ok_or(ApiError::NotFound)?;
    let subject = Subject {
        id: row.subject_id,
        key: key.clone(),
    };
    let email = subject.open("newsletter_subscribers", "email", &row.email)?;
    Ok((row, subject, email))
}

/// The subscription as it stands.
#[derive(Serialize, ToSchema)]
pub struct SubscriptionState {
    pub status: String,
    pub topics: Vec<String>,
    /// The topics in words, as the person sees them.
    pub topics_text: String,
}

/// Unsubscribes at once: the address joins the suppression list and
/// campaign mail waiting for it is cancelled, as the mail's own link does.
#[utoipa::path(post, path = "/api/v1/subscribers/{id}/unsubscribe", tag = "newsletter",
    params(("id" = i64, Path, description = "The subscriber's id")),
    responses((status = 200, description = "Unsubscribed", body = SubscriptionState), Refusals),
    security(("bearer" = ["subscribers:write"])))]
pub async fn unsubscribe(
    Bearer(caller, ..): Bearer<SubscribersWrite>,
    State(state): State<AppState>,
    Id(id): Id,
) -> ApiResult<Json<SubscriptionState>> {
    let (row, subject, email) = load(&state, id).await?;
    unsubscribe_subscriber(&state, &row, &subject, &email, 0).await?;
    audit_alone(
        &state,
        &caller,
        "unsubscribe",
        &id.to_string(),
        "unsubscribed",
    )
    .await?;
    Ok(Json(SubscriptionState {
        status: "unsubscribed".into(),
        topics_text: topic_labels(&row.topics),
        topics: row
            .topics
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
    }))
}

/// Topics to receive.
#[derive(Deserialize, ToSchema)]
pub struct Topics {
    /// Topic keys: `product-updates`, `tips`, `offers`; at least one.
    pub topics: Vec<String>,
}

/// Changes which topics a subscriber receives.
#[utoipa::path(put, path = "/api/v1/subscribers/{id}/topics", tag = "newsletter",
    params(("id" = i64, Path, description = "The subscriber's id")),
    request_body = Topics,
    responses((status = 200, description = "Changed", body = SubscriptionState), Refusals),
    security(("bearer" = ["subscribers:write"])))]
pub async fn set_topics(
    Bearer(caller, ..): Bearer<SubscribersWrite>,
    State(state): State<AppState>,
    Id(id): Id,
    Json(wanted): Json<Topics>,
) -> ApiResult<Json<SubscriptionState>> {
    let (row, _, _) = load(&state, id).await?;
    if let Some(unknown) = wanted
        .topics
        .iter()
        .find(|t| !TOPICS.iter().any(|(k, _)| k == t))
    {
        return Err(ApiError::field(
            "topics",
            format!("Unknown topic “{unknown}”."),
        ));
    }
    let topics = topics_to_text(&wanted.topics);
    if topics.is_empty() {
        return Err(ApiError::field(
            "topics",
            "Choose at least one topic, or unsubscribe.",
        ));
    }
    let mut tx = state.db.begin().await?;
    db::set_topics(&mut tx, id, &topics).await?;
    tx.commit().await?;
    audit_alone(&state, &caller, "topics", &id.to_string(), &topics).await?;
    Ok(Json(SubscriptionState {
        status: row.status,
        topics_text: topic_labels(&topics),
        topics: topics.split(',').map(str::to_string).collect(),
    }))
}

/// A campaign and what became of its mail.
#[derive(Serialize, ToSchema)]
pub struct CampaignStats {
    pub id: i64,
    pub subject: String,
    /// `draft`, `scheduled`, `sending`, `paused` or `sent`.
    pub status: String,
    pub scheduled_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub queued: i64,
    pub sent: i64,
    pub failed: i64,
    pub waiting: i64,
    pub cancelled: i64,
    /// Subscribers skipped because they are on the suppression list.
    pub suppressed: i64,
    pub unsubscribed: i64,
}

fn stats_of(c: &db::Campaign, f: Figures) -> CampaignStats {
    CampaignStats {
        id: c.id,
        subject: c.subject.clone(),
        status: c.status.clone(),
        scheduled_at: c.scheduled_at.map(time),
        started_at: c.started_at.map(time),
        finished_at: c.finished_at.map(time),
        queued: f.queued,
        sent: f.sent,
        failed: f.failed,
        waiting: f.waiting + f.held,
        cancelled: f.cancelled,
        suppressed: f.suppressed,
        unsubscribed: f.unsubscribed,
    }
}

/// Campaigns, newest first.
#[derive(Serialize, ToSchema)]
pub struct CampaignList {
    pub items: Vec<CampaignStats>,
    /// Pass as `?cursor=` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct CampaignListQuery {
    pub cursor: Option<String>,
    /// 1 to 100; 50 when not given.
    pub limit: Option<i64>,
}

/// Lists campaigns with their figures.
#[utoipa::path(get, path = "/api/v1/campaigns", tag = "newsletter",
    params(CampaignListQuery),
    responses((status = 200, description = "A page of campaigns", body = CampaignList), Refusals),
    security(("bearer" = ["subscribers:read"])))]
pub async fn list_campaigns(
    _: Bearer<SubscribersRead>,
    State(state): State<AppState>,
    Query(query): Query<CampaignListQuery>,
) -> ApiResult<Json<CampaignList>> {
    let limit = page_size(query.limit)?;
    let before = parse_cursor(query.cursor.as_deref())?.map(|(_, id)| id);
    let mut all = db::campaigns(&state.db).await?;
    all.sort_by_key(|c| std::cmp::Reverse(c.id));
    let mut rest = all.into_iter().filter(|c| before.is_none_or(|b| c.id < b));
    let mut items = Vec::new();
    for c in rest.by_ref().take(limit as usize) {
        let figures = campaigns::figures(&state, &c).await?;
        items.push(stats_of(&c, figures));
    }
    let more = rest.next().is_some();
    Ok(Json(CampaignList {
        next_cursor: items.last().filter(|_| more).map(|c| cursor(0, c.id)),
        items,
    }))
}

/// One campaign's figures.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/stats", tag = "newsletter",
    params(("id" = i64, Path, description = "The campaign's id")),
    responses((status = 200, description = "Its figures", body = CampaignStats), Refusals),
    security(("bearer" = ["subscribers:read"])))]
pub async fn campaign_stats(
    _: Bearer<SubscribersRead>,
    State(state): State<AppState>,
    Id(id): Id,
) -> ApiResult<Json<CampaignStats>> {
    let c = db::campaign(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let figures = campaigns::figures(&state, &c).await?;
    Ok(Json(stats_of(&c, figures)))
}
