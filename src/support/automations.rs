//! Work that runs itself: teams of staff, triggers (rules tried in order on
//! each new ticket and each answer from its requester: conditions on the
//! product, the channel, words of the subject and the requester's domain;
//! actions that route to a team or an agent, set the priority, add a tag or
//! send a canned reply) and macros (one click on a ticket: a canned reply,
//! a status and an assignment). Every rule that fires is audited.

use super::{
    db::{self, CannedReply},
    labels::{self, Priority, Tag},
    notify::AssignedBy,
    tickets::{self, STATUSES, Ticket},
};
use crate::{
    AppState,
    error::{AppError, AppResult},
    platform::{
        db::Tx,
        forms::{FieldErrors, Form, text},
        mail::{self, EmailTemplate, Recipient},
        now_ms, words,
    },
    privacy::subjects::Subject,
    staff::{
        Admin, Agent, Staff,
        audit::{self, Actor},
    },
};
use axum::{
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

/// When a trigger is tried.
pub const EVENTS: [(&str, &str); 3] = [
    ("created", "a ticket is created"),
    ("updated", "the requester answers"),
    ("both", "either"),
];
/// Where a ticket came from.
pub const CHANNELS: [&str; 3] = ["form", "email", "chat"];

/// A ticket's channel, from the nonce its intake gave it: the chat makes
/// `chat-…`, mail intake `mail-…` or `email-…`, the contact form a random one.
pub fn channel_of(form_nonce: &str) -> &'static str {
    if form_nonce.starts_with("chat-") {
        "chat"
    } else if form_nonce.starts_with("mail:") || form_nonce.starts_with("mail-") {
        "email"
    } else {
        "form"
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Trigger {
    pub id: i64,
    pub position: i64,
    pub name: String,
    pub on_event: String,
    pub if_product: String,
    pub if_channel: String,
    pub if_words: String,
    pub if_domain: String,
    pub set_team_id: Option<i64>,
    pub set_assignee_id: Option<i64>,
    pub set_priority: String,
    pub add_tag: String,
    pub canned_id: Option<i64>,
}

impl Trigger {
    /// Whether it fires for `event` (`created` or `updated`) on this ticket.
    pub fn matches(&self, event: &str, ticket: &Ticket) -> bool {
        let event_ok = self.on_event == "both" || self.on_event == event;
        let product_ok = self.if_product.is_empty()
            || ticket.product == self.if_product
            || (self.if_product == "other" && ticket.product.ends_with(" (typed)"));
        let channel_ok = self.if_channel.is_empty() || ticket.channel == self.if_channel;
        let words_ok = {
            let wanted = words::query_terms(&self.if_words);
            let have: Vec<&str> = words::raw_words(&ticket.title).collect();
            wanted.iter().all(|w| {
                have.iter()
                    .any(|h| words::word_matches(h, std::slice::from_ref(w)))
            })
        };
        let domain_ok = self.if_domain.is_empty() || domain_matches(&self.if_domain, &ticket.email);
        event_ok && product_ok && channel_ok && words_ok && domain_ok
    }

    /// Whether it routes a new live chat: a trigger on the channel "chat"
    /// tried when a ticket is created, with a team to route to and no
    /// words condition (a chat has no subject when it starts), whose
    /// product is the topic the visitor picked and whose domain is the
    /// visitor's email's.
    pub fn routes_chat(&self, topic: &str, email: &str) -> bool {
        self.if_channel == "chat"
            && self.on_event != "updated"
            && self.set_team_id.is_some()
            && self.if_words.trim().is_empty()
            && (self.if_product.is_empty() || self.if_product == topic)
            && (self.if_domain.is_empty() || domain_matches(&self.if_domain, email))
    }

    /// "If … then …", as the automations page lists it.
    pub fn describe(
        &self,
        teams: &[Team],
        staff: &[(i64, String)],
        canned: &[CannedReply],
    ) -> String {
        let mut when = vec![];
        if !self.if_product.is_empty() {
            when.push(format!("product is {}", self.if_product));
        }
        if !self.if_channel.is_empty() {
            when.push(format!("channel is {}", self.if_channel));
        }
        if !self.if_words.is_empty() {
            when.push(format!("subject has “{}”", self.if_words));
        }
        if !self.if_domain.is_empty() {
            when.push(format!("requester's domain is {}", self.if_domain));
        }
        let mut then = vec![];
        if let Some(team) = self.set_team_id {
            let name = teams
                .iter()
                .find(|t| t.id == team)
                .map_or("a deleted team", |t| t.name.as_str());
            then.push(format!("route to {name}"));
        }
        if let Some(agent) = self.set_assignee_id {
            let name = staff
                .iter()
                .find(|s| s.0 == agent)
                .map_or("a former agent", |s| s.1.as_str());
            then.push(format!("assign to {name}"));
        }
        if !self.set_priority.is_empty() {
            then.push(format!("set priority {}", self.set_priority));
        }
        if !self.add_tag.is_empty() {
            then.push(format!("tag {}", self.add_tag));
        }
        if let Some(c) = self.canned_id {
            let title = canned
                .iter()
                .find(|r| r.id == c)
                .map_or("a deleted canned reply", |r| r.title.as_str());
            then.push(format!("send “{title}”"));
        }
        let event = EVENTS
            .iter()
            .find(|(e, _)| *e == self.on_event)
            .map_or("", |(_, label)| label);
        let when = if when.is_empty() {
            "any ticket".to_string()
        } else {
            when.join(" and ")
        };
        format!("When {event}: if {when}, then {}.", then.join(", "))
    }
}

/// Whether `email` is at `domain` or one of its subdomains.
fn domain_matches(domain: &str, email: &str) -> bool {
    let at = email
        .rsplit_once('@')
        .map(|(_, d)| d.to_lowercase())
        .unwrap_or_default();
    at == domain || at.ends_with(&format!(".{domain}"))
}

/// The team a new live chat goes to: the first trigger (in order) that
/// [routes chats](Trigger::routes_chat) for its topic and email; audited by
/// the chat as the trigger's doing. `(team, trigger name)`.
pub async fn route_chat(
    tx: &mut Tx,
    topic: &str,
    email: &str,
) -> anyhow::Result<Option<(i64, String)>> {
    Ok(db::triggers(&mut **tx)
        .await?
        .into_iter()
        .find(|t| t.routes_chat(topic, email))
        .and_then(|t| Some((t.set_team_id?, t.name))))
}

/// The teams a staff member belongs to.
pub async fn teams_of(state: &AppState, staff_id: i64) -> AppResult<Vec<i64>> {
    Ok(db::team_members(&state.db)
        .await?
        .into_iter()
        .filter(|(_, s)| *s == staff_id)
        .map(|(team, _)| team)
        .collect())
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Team {
    pub id: i64,
    pub name: String,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Macro {
    pub id: i64,
    pub name: String,
    pub canned_id: i64,
    pub status: String,
    pub assignee: String,
}

/// Tries every trigger on a ticket, in order, inside the transaction that
/// saved it; each that fires is applied and audited. `ticket` is as saved
/// (a trigger sees what the ones before it set). Returns the names fired.
pub async fn run_triggers(
    state: &AppState,
    tx: &mut Tx,
    ticket: &mut Ticket,
    subject: &Subject,
    event: &str,
) -> anyhow::Result<Vec<String>> {
    let triggers = db::triggers(&mut **tx).await?;
    let mut fired = vec![];
    for trigger in triggers {
        if !trigger.matches(event, ticket) {
            continue;
        }
        let mut done = vec![];
        if let Some(team) = trigger.set_team_id
            && ticket.team_id != Some(team)
        {
            db::set_team(tx, ticket.id, Some(team)).await?;
            ticket.team_id = Some(team);
            done.push(format!("team {team}"));
        }
        if let Some(agent) = trigger.set_assignee_id
            && ticket.assignee_id != Some(agent)
        {
            db::set_assignee(tx, ticket.id, Some(agent)).await?;
            let by = format!("the trigger “{}”", trigger.name);
            super::notify::assigned(state, tx, ticket, Some(agent), AssignedBy::Rule(&by)).await?;
            ticket.assignee_id = Some(agent);
            done.push(format!("assigned to staff {agent}"));
        }
        if let Ok(priority) = trigger.set_priority.parse::<Priority>()
            && labels::set_priority(tx, ticket, priority).await?
        {
            ticket.priority = priority.as_str().into();
            done.push(format!("priority {}", priority.as_str()));
        }
        if let Ok(tag) = trigger.add_tag.parse::<Tag>()
            && labels::add_tag(tx, ticket, &tag).await?
        {
            done.push(format!("tag {tag}"));
        }
        if let Some(canned) = trigger.canned_id
            && let Some(c) = db::canned_reply(&mut **tx, canned).await?
        {
            let message = automatic_reply(state, tx, ticket, subject, &c.body).await?;
            done.push(format!("canned reply “{}” (message {message})", c.title));
        }
        let detail = format!(
            "{} on {event}: {}",
            trigger.name,
            if done.is_empty() {
                "nothing to change".to_string()
            } else {
                done.join(", ")
            }
        );
        audit::record(
            tx,
            Actor::System("trigger"),
            "trigger",
            "ticket",
            ticket.id,
            &detail,
        )
        .await?;
        fired.push(trigger.name);
    }
    Ok(fired)
}

/// A canned reply a trigger sends: stored as a reply from the company (no
/// agent), indexed, and mailed through the outbox. It is not a first
/// response: the ticket still waits for a person.
async fn automatic_reply(
    state: &AppState,
    tx: &mut Tx,
    ticket: &Ticket,
    subject: &Subject,
    template: &str,
) -> anyhow::Result<i64> {
    let site = state.site();
    let body = template
        .replace("{name}", &ticket.name)
        .replace("{reference}", &ticket.reference)
        .replace("{agent}", &site.company_name);
    let id = db::insert_message(
        tx,
        ticket.id,
        subject.id,
        "reply",
        None,
        &subject.seal("ticket_messages", "body", &body),
    )
    .await?;
    super::search::index_message(state, tx, ticket.id, subject.id, &body).await?;
    let mail = tickets::ReplyMail {
        name: ticket.name.clone(),
        reference: ticket.reference.clone(),
        title: ticket.title.clone(),
        link: tickets::absolute(
            state,
            &tickets::conversation_path(state, ticket.id, &ticket.link_nonce),
        )?,
        company: site.company_name.clone(),
        agent: site.company_name.clone(),
        body,
    };
    mail::enqueue(
        tx,
        &state.keyring,
        &site,
        Recipient::Subject(subject),
        "ticket-reply",
        &format!("ticket-reply:{id}"),
        // A trigger's answer is a robot's (RFC 3834): robots leave it be.
        &crate::platform::mail::OutgoingMail {
            headers: vec![("Auto-Submitted".into(), "auto-replied".into())],
            ..mail.to_mail(&ticket.email)?
        },
    )
    .await?;
    Ok(id)
}

/// Applies a macro: its canned reply (mailed, as the agent), its status and
/// its assignment, in one transaction, audited as one action.
pub async fn apply_macro(
    Staff(user, ..): Staff<Agent>,
    State(state): State<AppState>,
    Path((id, macro_id)): Path<(i64, i64)>,
) -> AppResult<Response> {
    let row = db::ticket(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let (ticket, subject) = Ticket::open(&state, row)?.ok_or(AppError::NotFound)?;
    let m = db::macro_by_id(&state.db, macro_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if ticket.merged_into.is_some() {
        return Err(AppError::Unprocessable(
            "This ticket was merged; apply the macro in the ticket it was merged into.".into(),
        ));
    }
    let canned = db::canned_reply(&state.db.pool, m.canned_id)
        .await?
        .ok_or_else(|| {
            AppError::Unprocessable(format!(
                "The macro “{}” sends a canned reply that was deleted; choose another one for it.",
                m.name
            ))
        })?;
    let assignee = match m.assignee.as_str() {
        "" => ticket.assignee_id,
        "me" => Some(user.id),
        "none" => None,
        other => other.parse().ok(),
    };
    let body = super::admin::fill_canned(&canned.body, &ticket, &user);
    let mut tx = state.db.begin().await?;
    let message =
        tickets::reply(&state, &mut tx, &ticket, &subject, &user, &body, &m.status).await?;
    if assignee != ticket.assignee_id {
        db::set_assignee(&mut tx, ticket.id, assignee).await?;
        let by = AssignedBy::Staff(user.id, &user.display_name);
        super::notify::assigned(&state, &mut tx, &ticket, assignee, by).await?;
    }
    if m.status == "solved" && ticket.status != "solved" {
        let agent = assignee.or(Some(user.id));
        super::csat::request_on_solve(&state, &mut tx, &ticket, &subject, agent).await?;
    }
    let detail = format!(
        "{}: message {message}, status {}, {}",
        m.name,
        m.status,
        assignee.map_or("unassigned".into(), |a| format!("assigned to staff {a}"))
    );
    audit::record(&mut tx, Actor::Staff(&user), "macro", "ticket", id, &detail).await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    Ok(Redirect::to(&format!("/admin/tickets/{id}")).into_response())
}

#[derive(Deserialize)]
pub struct TeamForm {
    #[serde(default)]
    team: String,
}

/// Routes a ticket to a team (or to none) from the ticket page.
pub async fn route_ticket(
    Staff(user, ..): Staff<Agent>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Form(form): Form<TeamForm>,
) -> AppResult<Response> {
    let row = db::ticket(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let team = match form.team.as_str() {
        "" | "none" => None,
        other => {
            let wanted: i64 = other
                .parse()
                .map_err(|_| AppError::Unprocessable("Please choose one of the teams.".into()))?;
            if !db::teams(&state.db).await?.iter().any(|t| t.id == wanted) {
                return Err(AppError::Unprocessable(
                    "Please choose one of the teams.".into(),
                ));
            }
            Some(wanted)
        }
    };
    let mut tx = state.db.begin().await?;
    db::set_team(&mut tx, row.id, team).await?;
    let detail = team.map_or("no team".to_string(), |t| format!("to team {t}"));
    audit::record(&mut tx, Actor::Staff(&user), "route", "ticket", id, &detail).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/admin/tickets/{id}")).into_response())
}

/// What the automations page's forms hold when they come back.
#[derive(Default, Deserialize, Clone)]
pub struct TriggerForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub on_event: String,
    #[serde(default)]
    pub if_product: String,
    #[serde(default)]
    pub if_channel: String,
    #[serde(default)]
    pub if_words: String,
    #[serde(default)]
    pub if_domain: String,
    #[serde(default)]
    pub set_team_id: String,
    #[serde(default)]
    pub set_assignee_id: String,
    #[serde(default)]
    pub set_priority: String,
    #[serde(default)]
    pub add_tag: String,
    #[serde(default)]
    pub canned_id: String,
}

#[derive(Default, Deserialize, Clone)]
pub struct MacroForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub canned_id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub assignee: String,
}

#[derive(Default, Deserialize, Clone)]
pub struct NewTeamForm {
    #[serde(default)]
    pub name: String,
}

pub struct TriggerRow {
    pub id: i64,
    pub name: String,
    pub rule: String,
}

pub struct TeamRow {
    pub id: i64,
    pub name: String,
    pub members: Vec<(i64, String)>,
}

#[derive(askama::Template)]
#[template(path = "support/automations.html")]
struct AutomationsPage {
    page: crate::platform::templates::Page,
    triggers: Vec<TriggerRow>,
    macros: Vec<(Macro, String)>,
    teams: Vec<TeamRow>,
    staff: Vec<(i64, String)>,
    canned: Vec<CannedReply>,
    products: Vec<String>,
    events: [(&'static str, &'static str); 3],
    channels: [&'static str; 3],
    priorities: [&'static str; 4],
    statuses: [&'static str; 4],
    trigger: TriggerForm,
    macro_form: MacroForm,
    team: NewTeamForm,
    errors: FieldErrors,
}

async fn automations_page(
    state: &AppState,
    page: crate::platform::templates::Page,
    trigger: TriggerForm,
    macro_form: MacroForm,
    team: NewTeamForm,
    errors: FieldErrors,
) -> AppResult<Response> {
    let teams = db::teams(&state.db).await?;
    let staff = crate::staff::db::active_agents(&state.db).await?;
    let canned = db::canned_replies(&state.db).await?;
    let members = db::team_members(&state.db).await?;
    let triggers = db::triggers(&state.db.pool)
        .await?
        .into_iter()
        .map(|t| TriggerRow {
            id: t.id,
            rule: t.describe(&teams, &staff, &canned),
            name: t.name,
        })
        .collect();
    let macros = db::macros(&state.db)
        .await?
        .into_iter()
        .map(|m| {
            let reply = canned
                .iter()
                .find(|c| c.id == m.canned_id)
                .map_or("a deleted canned reply".into(), |c| c.title.clone());
            let who = match m.assignee.as_str() {
                "" => "keeps the assignee".to_string(),
                "me" => "assigns to whoever applies it".into(),
                "none" => "unassigns".into(),
                id => staff
                    .iter()
                    .find(|s| s.0.to_string() == id)
                    .map_or("assigns to a former agent".into(), |s| {
                        format!("assigns to {}", s.1)
                    }),
            };
            let summary = format!("Sends “{reply}”, sets {}, {who}.", m.status);
            (m, summary)
        })
        .collect();
    let teams = teams
        .into_iter()
        .map(|t| TeamRow {
            members: members
                .iter()
                .filter(|(team, _)| *team == t.id)
                .filter_map(|(_, s)| staff.iter().find(|(id, _)| id == s).cloned())
                .collect(),
            id: t.id,
            name: t.name,
        })
        .collect();
    let status = errors.status();
    let settings = super::settings::load(&state.db).await?;
    let body = AutomationsPage {
        page: page.titled("Teams, triggers and macros"),
        triggers,
        macros,
        teams,
        staff,
        canned,
        products: settings.products.clone(),
        events: EVENTS,
        channels: CHANNELS,
        priorities: labels::PRIORITIES,
        statuses: STATUSES,
        trigger,
        macro_form,
        team,
        errors,
    };
    crate::platform::templates::render_with(status, &body)
}

pub async fn show_automations(
    _: Staff<Admin>,
    State(state): State<AppState>,
    page: crate::platform::templates::Page,
) -> AppResult<Response> {
    automations_page(
        &state,
        page,
        TriggerForm::default(),
        MacroForm::default(),
        NewTeamForm::default(),
        FieldErrors::default(),
    )
    .await
}

/// An optional id chosen from a list: empty is none, anything else must be in `ids`.
fn chosen(raw: &str, ids: &[i64]) -> Result<Option<i64>, ()> {
    match raw.trim() {
        "" => Ok(None),
        v => v
            .parse()
            .ok()
            .filter(|id| ids.contains(id))
            .map(Some)
            .ok_or(()),
    }
}

pub async fn add_trigger(
    Staff(user, ..): Staff<Admin>,
    State(state): State<AppState>,
    page: crate::platform::templates::Page,
    Form(form): Form<TriggerForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let name = errors.required("trigger_name", &form.name, 100, "Please name the trigger.");
    if !EVENTS.iter().any(|(e, _)| *e == form.on_event) {
        errors.add("on_event", "Please choose when the trigger is tried.");
    }
    let products = super::settings::load(&state.db).await?.products;
    let product = form.if_product.trim();
    if !product.is_empty() && product != "other" && !products.iter().any(|p| p == product) {
        errors.add("if_product", "Please choose one of the products.");
    }
    if !form.if_channel.is_empty() && !CHANNELS.contains(&form.if_channel.as_str()) {
        errors.add("if_channel", "Please choose form, email or chat.");
    }
    let if_words = match text(&form.if_words, 200) {
        Ok(w) => {
            let w = w.unwrap_or_default();
            if !w.is_empty() && words::query_terms(&w).is_empty() {
                errors.add(
                    "if_words",
                    "Use words of two letters or more, not only very common ones.",
                );
            }
            w
        }
        Err(e) => {
            errors.add("if_words", e);
            String::new()
        }
    };
    let domain = form.if_domain.trim().trim_start_matches('@').to_lowercase();
    if !domain.is_empty()
        && (domain.len() > 253
            || !domain.contains('.')
            || !domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '.' || c == '-'))
    {
        errors.add("if_domain", "Please write a domain like example.com.");
    }
    let team_ids: Vec<i64> = db::teams(&state.db).await?.iter().map(|t| t.id).collect();
    let team = chosen(&form.set_team_id, &team_ids).unwrap_or_else(|_| {
        errors.add("set_team_id", "Please choose one of the teams.");
        None
    });
    let agent_ids: Vec<i64> = crate::staff::db::active_agents(&state.db)
        .await?
        .iter()
        .map(|s| s.0)
        .collect();
    let agent = chosen(&form.set_assignee_id, &agent_ids).unwrap_or_else(|_| {
        errors.add("set_assignee_id", "Please choose an active agent.");
        None
    });
    let canned_ids: Vec<i64> = db::canned_replies(&state.db)
        .await?
        .iter()
        .map(|c| c.id)
        .collect();
    let canned = chosen(&form.canned_id, &canned_ids).unwrap_or_else(|_| {
        errors.add("canned_id", "Please choose one of the canned replies.");
        None
    });
    let priority = match form.set_priority.trim() {
        "" => String::new(),
        p => match p.parse::<Priority>() {
            Ok(p) => p.as_str().into(),
            Err(e) => {
                errors.add("set_priority", e);
                String::new()
            }
        },
    };
    let tag = match form.add_tag.trim() {
        "" => String::new(),
        t => match t.parse::<Tag>() {
            Ok(t) => t.to_string(),
            Err(e) => {
                errors.add("add_tag", e);
                String::new()
            }
        },
    };
    if errors.is_empty()
        && team.is_none()
        && agent.is_none()
        && canned.is_none()
        && priority.is_empty()
        && tag.is_empty()
    {
        errors.add(
            "actions",
            "Please choose at least one thing for the trigger to do.",
        );
    }
    if !errors.is_empty() {
        return automations_page(
            &state,
            page,
            form,
            MacroForm::default(),
            NewTeamForm::default(),
            errors,
        )
        .await;
    }
    let trigger = Trigger {
        id: 0,
        position: 0,
        name,
        on_event: form.on_event.clone(),
        if_product: product.to_string(),
        if_channel: form.if_channel.clone(),
        if_words,
        if_domain: domain,
        set_team_id: team,
        set_assignee_id: agent,
        set_priority: priority,
        add_tag: tag,
        canned_id: canned,
    };
    let mut tx = state.db.begin().await?;
    let id = db::insert_trigger(&mut tx, &trigger, now_ms()).await?;
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "add-trigger",
        "trigger",
        id,
        &trigger.name,
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/automations").into_response())
}

pub async fn delete_trigger(
    Staff(user, ..): Staff<Admin>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    if db::delete_trigger(&mut tx, id).await? == 0 {
        return Err(AppError::NotFound);
    }
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "delete-trigger",
        "trigger",
        id,
        "",
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/automations").into_response())
}

/// Moves a trigger one place earlier (it is then tried before the other).
pub async fn raise_trigger(
    Staff(user, ..): Staff<Admin>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    let order: Vec<i64> = db::triggers(&mut *tx).await?.iter().map(|t| t.id).collect();
    let at = order
        .iter()
        .position(|t| *t == id)
        .ok_or(AppError::NotFound)?;
    if at > 0 {
        let mut order = order;
        order.swap(at, at - 1);
        db::reorder_triggers(&mut tx, &order).await?;
        audit::record(
            &mut tx,
            Actor::Staff(&user),
            "raise-trigger",
            "trigger",
            id,
            "",
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Redirect::to("/admin/automations").into_response())
}

pub async fn add_macro(
    Staff(user, ..): Staff<Admin>,
    State(state): State<AppState>,
    page: crate::platform::templates::Page,
    Form(form): Form<MacroForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let name = errors.required("macro_name", &form.name, 100, "Please name the macro.");
    let canned_ids: Vec<i64> = db::canned_replies(&state.db)
        .await?
        .iter()
        .map(|c| c.id)
        .collect();
    let canned = match chosen(&form.canned_id, &canned_ids) {
        Ok(Some(c)) => c,
        _ => {
            errors.add("macro_canned", "Please choose the canned reply it sends.");
            0
        }
    };
    if !STATUSES.contains(&form.status.as_str()) {
        errors.add(
            "macro_status",
            "Please choose open, pending, solved or closed.",
        );
    }
    let agents: Vec<i64> = crate::staff::db::active_agents(&state.db)
        .await?
        .iter()
        .map(|s| s.0)
        .collect();
    let assignee_ok = matches!(form.assignee.as_str(), "" | "me" | "none")
        || form
            .assignee
            .parse::<i64>()
            .is_ok_and(|id| agents.contains(&id));
    if !assignee_ok {
        errors.add("macro_assignee", "Please choose who the ticket goes to.");
    }
    if !errors.is_empty() {
        return automations_page(
            &state,
            page,
            TriggerForm::default(),
            form,
            NewTeamForm::default(),
            errors,
        )
        .await;
    }
    let mut tx = state.db.begin().await?;
    let id = db::insert_macro(
        &mut tx,
        &name,
        canned,
        &form.status,
        &form.assignee,
        now_ms(),
    )
    .await?;
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "add-macro",
        "macro",
        id,
        &name,
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/automations").into_response())
}

pub async fn delete_macro(
    Staff(user, ..): Staff<Admin>,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    if db::delete_macro(&mut tx, id).await? == 0 {
        return Err(AppError::NotFound);
    }
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "delete-macro",
        "macro",
        id,
        "",
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/automations").into_response())
}

pub async fn add_team(
    Staff(user, ..): Staff<Admin>,
    State(state): State<AppState>,
    page: crate::platform::templates::Page,
    Form(form): Form<NewTeamForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let name = errors.required("team_name", &form.name, 60, "Please name the team.");
    if errors.is_empty()
        && db::teams(&state.db)
            .await?
            .iter()
            .any(|t| t.name.eq_ignore_ascii_case(&name))
    {
        errors.add("team_name", "There is a team of that name already.");
    }
    if !errors.is_empty() {
        return automations_page(
            &state,
            page,
            TriggerForm::default(),
            MacroForm::default(),
            form,
            errors,
        )
        .await;
    }
    let mut tx = state.db.begin().await?;
    let id = db::insert_team(&mut tx, &name, now_ms()).await?;
    audit::record(&mut tx, Actor::Staff(&user), "add-team", "team", id, &name).await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/automations").into_response())
}

#[derive(Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    staff: String,
}

pub async fn add_member(
    Staff(user, ..): Staff<Admin>,
    State(state): State<AppState>,
    Path(team): Path<i64>,
    Form(form): Form<MemberForm>,
) -> AppResult<Response> {
    if !db::teams(&state.db).await?.iter().any(|t| t.id == team) {
        return Err(AppError::NotFound);
    }
    let agents: Vec<i64> = crate::staff::db::active_agents(&state.db)
        .await?
        .iter()
        .map(|s| s.0)
        .collect();
    let staff = form
        .staff
        .parse::<i64>()
        .ok()
        .filter(|s| agents.contains(s))
        .ok_or_else(|| AppError::Unprocessable("Please choose an active agent.".into()))?;
    let mut tx = state.db.begin().await?;
    db::add_member(&mut tx, team, staff).await?;
    audit::record(
        &mut tx,
        Actor::Staff(&user),
        "add-team-member",
        "team",
        team,
        &format!("staff {staff}"),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin/automations").into_response())
}

pub async fn remove_member(
    Staff(user, ..): Staff<Admin>,
    State(state): State<AppState>,
    Path(team): Path<i64>,
    Form(form): Form<MemberForm>,
) -> AppResult<Response> {
    let staff: i64 = form
        .staff
        .parse()
        .map_err(|_| AppError::Unprocessable("Please choose a member.".into()))?;
    let mut tx = state.db.begin().await?;
    if db::remove_member(&mut tx, team, staff).await? > 0 {
        audit::record(
            &mut tx,
            Actor::Staff(&user),
            "remove-team-member",
            "team",
            team,
            &format!("staff {staff}"),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Redirect::to("/admin/automations").into_response())
}

/// Teams, for the ticket page and the inbox's filter.
pub async fn teams(state: &AppState) -> AppResult<Vec<Team>> {
    Ok(db::teams(&state.db).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_come_from_the_intake_nonce() {
        assert_eq!(channel_of("chat-12"), "chat");
        assert_eq!(channel_of("mail-<abc@x>"), "email");
        assert_eq!(channel_of("Zq3k9"), "form");
    }
}
