//! The JSON API: tokens made on /admin/account, their scopes, expiry and
//! death with their owner; every route of the OpenAPI document refusing no
//! token, a wrong scope and a foreign object; the document checked by a
//! real validator; tickets opened, read and answered through it.

use crate::{both, helpers::*};
use officecomms::privacy::{erasure, subjects};
use serde_json::{Value, json};
use std::process::{Command, Stdio};

const ALL_SCOPES: &[&str] = &[
    "tickets:read",
    "tickets:write",
    "articles:read",
    "articles:write",
    "subscribers:read",
    "subscribers:write",
    "analytics:read",
];

/// Makes a token on the account page of `staff`; the page's answer and the secret.
async fn make_token(
    app: &TestApp,
    staff: &StaffClient,
    name: &str,
    scopes: &[&str],
    days: &str,
) -> (u16, String, String) {
    let r = staff
        .client
        .get(app.url("/admin/account"))
        .send()
        .await
        .unwrap();
    let shown = r.status();
    let page = r.text().await.unwrap();
    assert!(page.contains("name=\"csrf\""), "{shown}: {page}");
    let csrf = extract_csrf(&page);
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("name", name),
        ("expires_days", days),
    ];
    form.extend(scopes.iter().map(|s| ("scopes", *s)));
    let r = staff
        .client
        .post(app.url("/admin/account/tokens"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    let secret = body
        .find("value=\"oc_")
        .map(|i| body[i + 7..].chars().take_while(|c| *c != '"').collect())
        .unwrap_or_default();
    (status, body, secret)
}

/// A new staff member of `role` and a token of theirs with `scopes`.
pub async fn token(app: &TestApp, role: &str, scopes: &[&str]) -> String {
    let staff = app.staff_client(role).await;
    let (status, body, secret) = make_token(app, &staff, "test", scopes, "").await;
    assert_eq!(status, 200, "{body}");
    assert!(secret.starts_with("oc_") && secret.len() == 46, "{secret}");
    secret
}

pub async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut r = client().request(method.parse().unwrap(), app.url(path));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{method} {path}: {status} not JSON: {text}"));
    (status, headers, value)
}

fn new_ticket(email: &str, subject: &str) -> Value {
    json!({
        "requester_name": "Ann Example",
        "requester_email": email,
        "requester_phone": "(415) 555-2671",
        "requester_birth_year": 1985,
        "product": "Microsoft 365",
        "subject": subject,
        "details": "Since Monday Outlook asks for my password every ten minutes."
    })
}

async fn count(app: &TestApp, table: &'static str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

/// A sample body for a request schema: each required property given a
/// plausible value, so the call reaches the object it names.
fn sample(doc: &Value, schema: &Value) -> Value {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap();
        return sample(doc, &doc["components"]["schemas"][name]);
    }
    let kind = match &schema["type"] {
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null")
            .to_string(),
        _ => "object".into(),
    };
    match kind.as_str() {
        "object" => {
            let mut out = serde_json::Map::new();
            for name in schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                out.insert(name.into(), sample(doc, &schema["properties"][name]));
            }
            Value::Object(out)
        }
        "integer" => json!(1985),
        "boolean" => json!(false),
        "array" => json!([]),
        "string" => json!("pending"),
        _ => Value::Null,
    }
}

both! {
    async fn tokens_carry_scopes_and_expiry_and_die_with_their_owner(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.staff_client("admin").await;
        let page = admin.client.get(app.url("/admin/account")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("API tokens") && page.contains("You have no API tokens."), "{page}");
        let (status, body, secret) = make_token(&app, &admin, "Status board", &["tickets:read"], "30").await;
        assert_eq!(status, 200);
        assert!(body.contains("shown only this once"), "{body}");
        assert!(secret.starts_with("oc_"));
        let stored: String = sqlx::query_scalar("SELECT token_hash FROM api_tokens").fetch_one(&app.state.db.pool).await.unwrap();
        assert_ne!(stored, secret, "only a hash is kept");
        assert!(!body.contains(&stored));
        let (status, headers, list) = call(&app, "GET", "/api/v1/tickets", Some(&secret), None).await;
        assert_eq!(status, 200, "{list}");
        assert!(list["items"].is_array() && list.get("next_cursor").is_some(), "{list}");
        assert!(headers.get("set-cookie").is_none(), "the API sets no cookie");
        // A scope it lacks: 403 naming it.
        let (status, _, refused) = call(&app, "POST", "/api/v1/tickets", Some(&secret), Some(new_ticket("ann@example.com", "Hello"))).await;
        assert_eq!(status, 403);
        assert_eq!(refused["error"], "forbidden");
        assert!(refused["message"].as_str().unwrap().contains("tickets:write"), "{refused}");
        // Listed with its last use; shown once only.
        let page = admin.client.get(app.url("/admin/account")).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Status board") && page.contains("tickets:read"), "{page}");
        assert!(!page.contains(&secret), "the secret is never shown again");
        let used: Option<i64> = sqlx::query_scalar("SELECT last_used_at FROM api_tokens").fetch_one(&app.state.db.pool).await.unwrap();
        assert!(used.is_some(), "last use recorded");
        // Expiry: a month and a day later it no longer opens anything.
        app.state.clock.advance(31 * 86_400_000);
        let (status, headers, body) = call(&app, "GET", "/api/v1/tickets", Some(&secret), None).await;
        assert_eq!(status, 401, "{body}");
        assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
        assert!(page.contains("30 days") || page.contains("Expires"));
        // No token, a malformed one, a session cookie alone: 401.
        assert_eq!(call(&app, "GET", "/api/v1/tickets", None, None).await.0, 401);
        assert_eq!(call(&app, "GET", "/api/v1/tickets", Some("oc_not-a-token"), None).await.0, 401);
        let r = admin.client.get(app.url("/api/v1/tickets")).send().await.unwrap();
        assert_eq!(r.status(), 401, "a staff session never opens the API");
        // Revoked: dead at once, and audited.
        let (_, _, second) = make_token(&app, &admin, "Zapier", &["tickets:read"], "").await;
        assert_eq!(call(&app, "GET", "/api/v1/tickets", Some(&second), None).await.0, 200);
        let page = admin.client.get(app.url("/admin/account")).send().await.unwrap().text().await.unwrap();
        let at = page.find("/revoke\"").unwrap();
        let id: String = page[..at].chars().rev().take_while(|c| c.is_ascii_digit()).collect::<Vec<_>>().into_iter().rev().collect();
        let r = admin.client.post(app.url(&format!("/admin/account/tokens/{id}/revoke"))).form(&[("csrf", extract_csrf(&page).as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(call(&app, "GET", "/api/v1/tickets", Some(&second), None).await.0, 401);
        let audited: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log WHERE target_kind = 'api_token' ORDER BY id").fetch_all(&app.state.db.pool).await.unwrap();
        assert_eq!(audited, ["create", "create", "revoke"]);
        // Never beyond the role: an agent cannot give a token analytics.
        let agent = app.staff_client("agent").await;
        let page = agent.client.get(app.url("/admin/account")).send().await.unwrap().text().await.unwrap();
        assert!(!page.contains("value=\"analytics:read\""), "an agent is not offered admin scopes");
        let (status, body, secret) = make_token(&app, &agent, "Sneaky", &["tickets:read", "analytics:read"], "").await;
        assert_eq!(status, 422);
        assert!(body.contains("cannot do more than your role allows") && secret.is_empty(), "{body}");
        // Dies with the owner: an admin disables the agent.
        let (_, _, agent_token) = make_token(&app, &agent, "Mine", &["tickets:read"], "").await;
        assert_eq!(call(&app, "GET", "/api/v1/tickets", Some(&agent_token), None).await.0, 200);
        let users = admin.client.get(app.url("/admin/users?q=agent-")).send().await.unwrap().text().await.unwrap();
        let start = users.find("action=\"/admin/users/").unwrap() + "action=\"/admin/users/".len();
        let agent_id: String = users[start..].chars().take_while(|c| c.is_ascii_digit()).collect();
        let r = admin.client.post(app.url(&format!("/admin/users/{agent_id}"))).form(&[("csrf", extract_csrf(&users).as_str()), ("role", "agent"), ("disabled", "1")]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(call(&app, "GET", "/api/v1/tickets", Some(&agent_token), None).await.0, 401);
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens WHERE user_id = $1").bind(agent_id.parse::<i64>().unwrap()).fetch_one(&app.state.db.pool).await.unwrap();
        assert_eq!(left, 0, "the disabled member's tokens are deleted");
    }

    async fn every_route_refuses_no_token_a_wrong_scope_and_a_foreign_object(backend) {
        let app = TestApp::spawn(backend).await;
        let (status, _, doc) = call(&app, "GET", "/api/openapi.json", None, None).await;
        assert_eq!(status, 200);
        let everything = token(&app, "admin", ALL_SCOPES).await;
        let mut routes = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                routes += 1;
                let needed: Vec<&str> = op["security"][0]["bearer"].as_array().unwrap_or_else(|| panic!("{method} {path} names no scope")).iter().filter_map(Value::as_str).collect();
                assert_eq!(needed.len(), 1, "{method} {path}");
                let body = op["requestBody"]["content"]["application/json"]["schema"].as_object().map(|s| sample(&doc, &Value::Object(s.clone())));
                let foreign = path.replace("{id}", "987654321");
                let m = method.to_uppercase();
                let (status, _, answer) = call(&app, &m, &foreign, None, body.clone()).await;
                assert_eq!(status, 401, "{m} {path} without a token: {answer}");
                let others: Vec<&str> = ALL_SCOPES.iter().copied().filter(|s| *s != needed[0]).collect();
                let lacking = token(&app, "admin", &others).await;
                let (status, _, answer) = call(&app, &m, &foreign, Some(&lacking), body.clone()).await;
                assert_eq!(status, 403, "{m} {path} without {}: {answer}", needed[0]);
                if path.contains("{id}") {
                    let (status, _, answer) = call(&app, &m, &foreign, Some(&everything), body.clone()).await;
                    assert_eq!(status, 404, "{m} {path} for an object that is not there: {answer}");
                    assert_eq!(answer["error"], "not_found");
                    let (status, _, _) = call(&app, &m, &path.replace("{id}", "x1"), Some(&everything), body).await;
                    assert_eq!(status, 404, "{m} {path} with an id that is no number");
                }
            }
        }
        assert!(routes >= 7, "the document lists the routes ({routes})");
        // A ticket whose requester was erased is nobody's to see.
        let (status, _, made) = call(&app, "POST", "/api/v1/tickets", Some(&everything), Some(new_ticket("gone@example.com", "Forget me"))).await;
        assert_eq!(status, 201, "{made}");
        let id = made["id"].as_i64().unwrap();
        let state = &app.state;
        let subject = subjects::find(&state.db, &state.keyring, "gone@example.com").await.unwrap().unwrap();
        let mut tx = state.db.begin().await.unwrap();
        erasure::erase(&mut tx, &state.registry.inventory, subject.id, "test").await.unwrap();
        tx.commit().await.unwrap();
        for (m, p) in [("GET", format!("/api/v1/tickets/{id}")), ("PUT", format!("/api/v1/tickets/{id}/status"))] {
            let (status, _, _) = call(&app, m, &p, Some(&everything), Some(json!({"status": "closed"}))).await;
            assert_eq!(status, 404, "{m} {p}");
        }
        // Unknown API paths answer JSON too.
        let (status, _, answer) = call(&app, "GET", "/api/v1/nothing-here", Some(&everything), None).await;
        assert_eq!((status, answer["error"].as_str()), (404, Some("not_found")));
    }

    async fn a_ticket_opened_through_the_api_is_in_the_inbox_and_answered_there(backend) {
        let app = TestApp::spawn(backend).await;
        let writer = token(&app, "agent", &["tickets:read", "tickets:write"]).await;
        let (status, headers, made) = call(&app, "POST", "/api/v1/tickets", Some(&writer), Some(new_ticket("ann@example.com", "Printer offline after update"))).await;
        assert_eq!(status, 201, "{made}");
        let id = made["id"].as_i64().unwrap();
        assert_eq!(headers["location"], format!("/api/v1/tickets/{id}").as_str());
        let reference = made["reference"].as_str().unwrap().to_string();
        assert_eq!(made["requester_email"], "ann@example.com");
        assert_eq!(made["status"], "open");
        // The same Idempotency-Key again: the same ticket, not a second one.
        let again = client().post(app.url("/api/v1/tickets")).bearer_auth(&writer).header("idempotency-key", "k-1").json(&new_ticket("bo@example.com", "Once")).send().await.unwrap();
        assert_eq!(again.status(), 201);
        let first: Value = again.json().await.unwrap();
        let again = client().post(app.url("/api/v1/tickets")).bearer_auth(&writer).header("idempotency-key", "k-1").json(&new_ticket("bo@example.com", "Once")).send().await.unwrap();
        assert_eq!(again.status(), 200);
        assert_eq!(again.json::<Value>().await.unwrap()["id"], first["id"]);
        // Staff see it in the inbox.
        let staff = app.staff_client("agent").await;
        let inbox = staff.client.get(app.url("/admin/tickets")).send().await.unwrap().text().await.unwrap();
        assert!(inbox.contains("Printer offline after update") && inbox.contains(&reference), "{inbox}");
        // Answered, noted, assigned and solved through the API.
        let (status, _, _) = call(&app, "POST", &format!("/api/v1/tickets/{id}/replies"), Some(&writer), Some(json!({"body": "Please restart the print spooler."}))).await;
        assert_eq!(status, 201);
        let (status, _, _) = call(&app, "POST", &format!("/api/v1/tickets/{id}/notes"), Some(&writer), Some(json!({"body": "Known driver bug."}))).await;
        assert_eq!(status, 201);
        let (status, _, assigned) = call(&app, "PUT", &format!("/api/v1/tickets/{id}/assignee"), Some(&writer), Some(json!({"assignee_id": null}))).await;
        assert_eq!((status, assigned["assignee_id"].clone()), (200, Value::Null));
        let (status, _, moved) = call(&app, "PUT", &format!("/api/v1/tickets/{id}/status"), Some(&writer), Some(json!({"status": "solved"}))).await;
        assert_eq!((status, moved["status"].as_str()), (200, Some("solved")));
        let (status, _, read) = call(&app, "GET", &format!("/api/v1/tickets/{id}"), Some(&writer), None).await;
        assert_eq!(status, 200);
        let kinds: Vec<&str> = read["messages"].as_array().unwrap().iter().map(|m| m["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["visitor", "reply", "note"], "{read}");
        assert_eq!(read["messages"][1]["body"], "Please restart the print spooler.");
        assert_eq!(read["status"], "solved");
        assert_eq!(read["requester_phone"], "(415) 555-2671");
        // The requester was mailed the acknowledgement and the reply.
        app.drain_outbox().await;
        let to_ann: Vec<_> = app.mails().into_iter().filter(|m| m.to.contains("ann@example.com")).collect();
        assert!(to_ann.iter().any(|m| m.text.contains("restart the print spooler")), "the reply was mailed");
        // Every read of personal data is audited as the token's owner.
        let audited: Vec<(String, String)> = sqlx::query_as("SELECT action, detail FROM audit_log WHERE target_kind = 'ticket' ORDER BY id").fetch_all(&app.state.db.pool).await.unwrap();
        for action in ["create", "reply", "note", "assign", "status", "view-ticket"] {
            assert!(audited.iter().any(|(a, _)| a == action), "{action} not audited: {audited:?}");
        }
        assert!(audited.iter().any(|(a, d)| a == "view-ticket" && d.contains("via API token")), "{audited:?}");
        // A child's request keeps nothing.
        let before = count(&app, "tickets").await;
        let mut child = new_ticket("kid@example.com", "Help");
        child["requester_birth_year"] = json!(chrono_year() - 10);
        let (status, _, answer) = call(&app, "POST", "/api/v1/tickets", Some(&writer), Some(child)).await;
        assert_eq!(status, 422);
        assert!(answer["errors"]["requester_birth_year"].as_str().unwrap().contains("under 13"), "{answer}");
        assert_eq!(count(&app, "tickets").await, before, "nothing saved");
    }

    async fn bad_input_gets_field_errors_and_lists_page_by_cursor(backend) {
        let app = TestApp::spawn(backend).await;
        let writer = token(&app, "agent", &["tickets:read", "tickets:write"]).await;
        let mut bad = new_ticket("not an address", "");
        bad.as_object_mut().unwrap().remove("requester_birth_year");
        let (status, _, answer) = call(&app, "POST", "/api/v1/tickets", Some(&writer), Some(bad)).await;
        assert_eq!(status, 422, "{answer}");
        let errors = answer["errors"].as_object().unwrap();
        for field in ["requester_email", "subject", "requester_birth_year"] {
            assert!(errors.get(field).and_then(Value::as_str).is_some_and(|m| !m.is_empty()), "no error for {field}: {answer}");
        }
        assert_eq!(count(&app, "tickets").await, 0, "nothing half-saved");
        let r = client().post(app.url("/api/v1/tickets")).bearer_auth(&writer).header("content-type", "application/json").body("{not json").send().await.unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "bad_request");
        let r = client().post(app.url("/api/v1/tickets")).bearer_auth(&writer).body("x=1").send().await.unwrap();
        assert_eq!(r.status(), 415);
        let (status, _, answer) = call(&app, "POST", "/api/v1/tickets", Some(&writer), Some(json!({"requester_name": 5}))).await;
        assert_eq!(status, 422, "{answer}");
        assert!(answer["errors"]["body"].is_string(), "{answer}");
        for (query, field) in [("status=everything", "status"), ("sort=sideways", "sort"), ("cursor=%21%21", "cursor"), ("limit=1000", "limit"), ("assignee=nobody", "assignee"), ("sla=soon", "sla"), ("limit=two", "query")] {
            let (status, _, answer) = call(&app, "GET", &format!("/api/v1/tickets?{query}"), Some(&writer), None).await;
            assert_eq!(status, 422, "{query}: {answer}");
            assert!(answer["errors"][field].is_string(), "{query}: {answer}");
        }
        let (status, _, answer) = call(&app, "POST", "/api/v1/tickets/1/replies", Some(&writer), Some(json!({"body": "   "}))).await;
        assert!(status == 404 || status == 422, "{answer}");
        // Three tickets, two a page: every ticket once, then no cursor.
        let mut made = vec![];
        for n in 0..3 {
            let (status, _, t) = call(&app, "POST", "/api/v1/tickets", Some(&writer), Some(new_ticket(&format!("p{n}@example.com"), &format!("Paged {n}")))).await;
            assert_eq!(status, 201);
            made.push(t["id"].as_i64().unwrap());
        }
        let (status, _, answer) = call(&app, "POST", &format!("/api/v1/tickets/{}/replies", made[0]), Some(&writer), Some(json!({"body": "   "}))).await;
        assert_eq!(status, 422);
        assert!(answer["errors"]["body"].is_string(), "{answer}");
        let (status, _, answer) = call(&app, "PUT", &format!("/api/v1/tickets/{}/status", made[0]), Some(&writer), Some(json!({"status": "lost"}))).await;
        assert_eq!(status, 422);
        assert!(answer["errors"]["status"].is_string(), "{answer}");
        let (_, _, page1) = call(&app, "GET", "/api/v1/tickets?limit=2", Some(&writer), None).await;
        let cursor = page1["next_cursor"].as_str().expect("a next cursor").to_string();
        let (_, _, page2) = call(&app, "GET", &format!("/api/v1/tickets?limit=2&cursor={cursor}"), Some(&writer), None).await;
        assert!(page2["next_cursor"].is_null(), "{page2}");
        let mut seen: Vec<i64> = page1["items"].as_array().unwrap().iter().chain(page2["items"].as_array().unwrap()).map(|t| t["id"].as_i64().unwrap()).collect();
        assert_eq!(seen, made.iter().rev().copied().collect::<Vec<_>>(), "newest first, each once");
        let (_, _, oldest) = call(&app, "GET", "/api/v1/tickets?sort=oldest&limit=100", Some(&writer), None).await;
        seen = oldest["items"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
        assert_eq!(seen, made);
        let (_, _, found) = call(&app, "GET", "/api/v1/tickets?q=p1%40example", Some(&writer), None).await;
        assert_eq!(found["items"].as_array().unwrap().len(), 1, "{found}");
        // Unanswered for two weeks: every first-response target is breached.
        let (_, _, breached) = call(&app, "GET", "/api/v1/tickets?sla=breached", Some(&writer), None).await;
        assert_eq!(breached["items"].as_array().unwrap().len(), 0, "new tickets are within their targets: {breached}");
        app.state.clock.advance(14 * 24 * 3_600_000);
        let (_, _, breached) = call(&app, "GET", "/api/v1/tickets?sla=breached&sort=oldest", Some(&writer), None).await;
        seen = breached["items"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
        assert_eq!(seen, made, "{breached}");
    }

    async fn too_many_calls_get_429_with_retry_after(backend) {
        let app = TestApp::spawn_with(backend, |c| c.api_per_minute = 3).await;
        let reader = token(&app, "agent", &["tickets:read"]).await;
        for _ in 0..3 {
            assert_eq!(call(&app, "GET", "/api/v1/tickets", Some(&reader), None).await.0, 200);
        }
        let (status, headers, answer) = call(&app, "GET", "/api/v1/tickets", Some(&reader), None).await;
        assert_eq!(status, 429, "{answer}");
        assert_eq!(answer["error"], "too_many_requests");
        let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        // Another token has its own allowance.
        let other = token(&app, "agent", &["tickets:read"]).await;
        assert_eq!(call(&app, "GET", "/api/v1/tickets", Some(&other), None).await.0, 200);
    }

    async fn articles_are_written_sanitised_published_and_deleted_through_the_api(backend) {
        let app = TestApp::spawn(backend).await;
        let editor = token(&app, "editor", &["articles:read", "articles:write"]).await;
        let draft = json!({
            "kind": "article",
            "title": "Reset a forgotten Outlook password",
            "body": "Open **Settings**.\n\n<script>alert(1)</script><img src=x onerror=alert(2)>",
            "tags": ["outlook", "passwords"],
        });
        let (status, headers, made) = call(&app, "POST", "/api/v1/articles", Some(&editor), Some(draft)).await;
        assert_eq!(status, 201, "{made}");
        let id = made["id"].as_i64().unwrap();
        assert_eq!(headers["location"], format!("/api/v1/articles/{id}").as_str());
        assert_eq!(made["state"], "draft");
        let html = made["body_html"].as_str().unwrap();
        assert!(html.contains("<strong>Settings</strong>") && !html.contains("<script") && !html.contains("onerror"), "sanitised as in the editor: {html}");
        let path = made["path"].as_str().unwrap().to_string();
        assert_eq!(app.get(&path).await.status(), 404, "a draft is not on the site");
        let (status, _, published) = call(&app, "POST", &format!("/api/v1/articles/{id}/publish"), Some(&editor), None).await;
        assert_eq!((status, published["state"].as_str()), (200, Some("published")), "{published}");
        let (status, page) = app.get_text(&path).await;
        assert_eq!(status, 200);
        assert!(page.contains("Reset a forgotten Outlook password") && !page.contains("<script>alert"));
        // An update from a stale version is refused, not lost.
        let mut change = json!({"kind": "article", "title": "Reset your Outlook password", "body": "New text.", "state": "published", "version": made["version"]});
        let (status, _, answer) = call(&app, "PUT", &format!("/api/v1/articles/{id}"), Some(&editor), Some(change.clone())).await;
        assert_eq!(status, 409, "{answer}");
        change["version"] = published["version"].clone();
        let (status, _, updated) = call(&app, "PUT", &format!("/api/v1/articles/{id}"), Some(&editor), Some(change)).await;
        assert_eq!((status, updated["title"].as_str()), (200, Some("Reset your Outlook password")), "{updated}");
        let (status, _, answer) = call(&app, "POST", "/api/v1/articles", Some(&editor), Some(json!({"kind": "poem", "title": "", "body": "x"}))).await;
        assert_eq!(status, 422);
        assert!(answer["errors"]["kind"].is_string() && answer["errors"]["title"].is_string(), "{answer}");
        let (_, _, list) = call(&app, "GET", "/api/v1/articles?q=outlook%20password", Some(&editor), None).await;
        assert!(list["items"].as_array().unwrap().iter().any(|a| a["id"] == id), "{list}");
        let audited: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_log WHERE target_kind = 'article' AND target_id = $1 ORDER BY id").bind(id.to_string()).fetch_all(&app.state.db.pool).await.unwrap();
        assert_eq!(audited.first().map(String::as_str), Some("create"), "{audited:?}");
        let r = client().delete(app.url(&format!("/api/v1/articles/{id}"))).bearer_auth(&editor).send().await.unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(call(&app, "GET", &format!("/api/v1/articles/{id}"), Some(&editor), None).await.0, 404);
        assert_eq!(app.get(&path).await.status(), 404);
    }

    async fn subscribers_join_by_double_opt_in_or_an_audited_import_and_leave_at_once(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = token(&app, "admin", &["subscribers:read", "subscribers:write", "analytics:read"]).await;
        let (status, _, added) = call(&app, "POST", "/api/v1/subscribers", Some(&admin), Some(json!({"email": "pat@example.com", "topics": ["tips"]}))).await;
        assert_eq!((status, added["result"].as_str()), (202, Some("pending")), "{added}");
        app.drain_outbox().await;
        assert!(app.mails().iter().any(|m| m.to.contains("pat@example.com") && m.text.contains("/newsletter/confirm/")), "the double opt-in mail went out");
        let (status, _, answer) = call(&app, "POST", "/api/v1/subscribers", Some(&admin), Some(json!({"email": "lee@example.com", "confirmed": true}))).await;
        assert_eq!(status, 422, "an import names where consent came from");
        assert!(answer["errors"]["consent_source"].is_string());
        let (status, _, added) = call(&app, "POST", "/api/v1/subscribers", Some(&admin), Some(json!({"email": "lee@example.com", "name": "Lee", "confirmed": true, "consent_source": "trade fair sign-up sheet"}))).await;
        assert_eq!((status, added["result"].as_str()), (202, Some("confirmed")));
        let audited: Vec<String> = sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'import'").fetch_all(&app.state.db.pool).await.unwrap();
        assert!(audited.iter().any(|d| d.contains("trade fair sign-up sheet")), "{audited:?}");
        let (status, _, list) = call(&app, "GET", "/api/v1/subscribers?status=confirmed", Some(&admin), None).await;
        assert_eq!(status, 200);
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{list}");
        assert_eq!(items[0]["email"], "lee@example.com");
        let lee = items[0]["id"].as_i64().unwrap();
        let (status, _, topics) = call(&app, "PUT", &format!("/api/v1/subscribers/{lee}/topics"), Some(&admin), Some(json!({"topics": ["offers"]}))).await;
        assert_eq!((status, topics["topics"].clone()), (200, json!(["offers"])));
        let (status, _, answer) = call(&app, "PUT", &format!("/api/v1/subscribers/{lee}/topics"), Some(&admin), Some(json!({"topics": ["gossip"]}))).await;
        assert_eq!(status, 422, "{answer}");
        let (status, _, gone) = call(&app, "POST", &format!("/api/v1/subscribers/{lee}/unsubscribe"), Some(&admin), None).await;
        assert_eq!((status, gone["status"].as_str()), (200, Some("unsubscribed")));
        // Suppressed: a later import does not bring the address back.
        let (_, _, again) = call(&app, "POST", "/api/v1/subscribers", Some(&admin), Some(json!({"email": "lee@example.com", "confirmed": true, "consent_source": "old list"}))).await;
        assert_eq!(again["result"], "suppressed");
        let (status, _, campaigns) = call(&app, "GET", "/api/v1/campaigns", Some(&admin), None).await;
        assert_eq!(status, 200);
        assert!(campaigns["items"].is_array());
        // A visit to the home page is in the day's figures, as the CSV gives it.
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";
        let r = client().get(app.url("/")).header("user-agent", firefox).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let (status, _, figures) = call(&app, "GET", "/api/v1/analytics/daily", Some(&admin), None).await;
        assert_eq!(status, 200, "{figures}");
        let home = figures["items"].as_array().unwrap().iter().find(|f| f["path"] == "/").unwrap_or_else(|| panic!("no figures for /: {figures}")).clone();
        assert!(home["views"].as_i64().unwrap() >= 1 && home["date"].as_str().unwrap().len() == 10, "{home}");
        let (status, _, answer) = call(&app, "GET", "/api/v1/analytics/daily?from=2026-02-01&to=2026-01-01", Some(&admin), None).await;
        assert_eq!(status, 422);
        assert!(answer["errors"]["from"].is_string(), "{answer}");
    }

    async fn a_demoted_owner_s_token_loses_the_scopes_beyond_the_new_role(backend) {
        let app = TestApp::spawn(backend).await;
        let owner = app.staff_client("admin").await;
        let (status, body, secret) = make_token(&app, &owner, "Reports", &["tickets:read", "subscribers:read", "analytics:read"], "").await;
        assert_eq!(status, 200, "{body}");
        for path in ["/api/v1/tickets", "/api/v1/subscribers", "/api/v1/analytics/daily"] {
            assert_eq!(call(&app, "GET", path, Some(&secret), None).await.0, 200, "{path} as an admin");
        }
        let owner_id: i64 = sqlx::query_scalar("SELECT user_id FROM api_tokens WHERE name = 'Reports'").fetch_one(&app.state.db.pool).await.unwrap();
        let other = app.staff_client("admin").await;
        let users = other.client.get(app.url("/admin/users")).send().await.unwrap().text().await.unwrap();
        let r = other.client.post(app.url(&format!("/admin/users/{owner_id}"))).form(&[("csrf", extract_csrf(&users).as_str()), ("role", "agent")]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        // Now an agent: the admin scopes refuse, the agent's still work.
        for path in ["/api/v1/subscribers", "/api/v1/analytics/daily"] {
            let (status, _, answer) = call(&app, "GET", path, Some(&secret), None).await;
            assert_eq!(status, 403, "{path} after the demotion: {answer}");
            assert_eq!(answer["error"], "forbidden");
        }
        assert_eq!(call(&app, "GET", "/api/v1/tickets", Some(&secret), None).await.0, 200, "within the new role");
        // Promoted back, the token's scopes work again: they were never widened, only held back.
        let users = other.client.get(app.url("/admin/users")).send().await.unwrap().text().await.unwrap();
        other.client.post(app.url(&format!("/admin/users/{owner_id}"))).form(&[("csrf", extract_csrf(&users).as_str()), ("role", "admin")]).send().await.unwrap();
        assert_eq!(call(&app, "GET", "/api/v1/subscribers", Some(&secret), None).await.0, 200);
    }

    async fn campaign_stats_give_the_figures_of_a_sent_campaign(backend) {
        let app = TestApp::spawn(backend).await;
        app.login_as("admin").await;
        crate::newsletter::import(&app, &["ann@example.com", "bob@example.com", "cy@example.com"], "tips").await;
        crate::newsletter::import(&app, &["dee@example.com"], "offers").await;
        let fields = crate::newsletter::good_campaign("December tips", "tips");
        let id = crate::newsletter::create_campaign(&app, &fields).await;
        let reader = token(&app, "admin", &["subscribers:read"]).await;
        let (status, _, draft) = call(&app, "GET", &format!("/api/v1/campaigns/{id}/stats"), Some(&reader), None).await;
        assert_eq!(status, 200);
        assert_eq!((draft["status"].as_str(), draft["sent"].as_i64(), draft["started_at"].clone()), (Some("draft"), Some(0), Value::Null), "{draft}");
        assert_eq!(crate::newsletter::act(&app, id, "send", &fields).await.status(), 303);
        crate::newsletter::wait_sent(&app, id).await;
        // Ann leaves through the campaign's own one-click link.
        app.drain_outbox().await;
        let ann = app.mails().into_iter().find(|m| m.to == "ann@example.com" && m.subject == "December tips").expect("Ann's copy");
        let url = ann.header("List-Unsubscribe").unwrap().trim_matches(['<', '>']).to_string();
        let r = client().post(&url).header("content-type", "application/x-www-form-urlencoded").body("List-Unsubscribe=One-Click").send().await.unwrap();
        assert_eq!(r.status(), 200);

        let (status, _, stats) = call(&app, "GET", &format!("/api/v1/campaigns/{id}/stats"), Some(&reader), None).await;
        assert_eq!(status, 200, "{stats}");
        assert_eq!(stats["subject"], "December tips");
        assert_eq!(stats["status"], "sent");
        for (figure, want) in [("queued", 3), ("sent", 3), ("failed", 0), ("waiting", 0), ("cancelled", 0), ("unsubscribed", 1)] {
            assert_eq!(stats[figure].as_i64(), Some(want), "{figure}: {stats}");
        }
        assert!(stats["started_at"].as_str().is_some_and(|t| t.ends_with('Z')) && stats["finished_at"].is_string(), "{stats}");
        // The list says the same.
        let (_, _, list) = call(&app, "GET", "/api/v1/campaigns", Some(&reader), None).await;
        let listed = list["items"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap().clone();
        assert_eq!(listed, stats);
    }

    async fn subscribers_and_articles_page_by_cursor_each_once(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = token(&app, "admin", &["subscribers:read", "subscribers:write", "articles:read", "articles:write"]).await;
        // Confirmed imports with pending sign-ups between them.
        let mut confirmed = vec![];
        for n in 0..5 {
            let (status, _, _) = call(&app, "POST", "/api/v1/subscribers", Some(&admin), Some(json!({"email": format!("c{n}@example.com"), "confirmed": true, "consent_source": "fair"}))).await;
            assert_eq!(status, 202);
            confirmed.push(format!("c{n}@example.com"));
            if n % 2 == 0 {
                call(&app, "POST", "/api/v1/subscribers", Some(&admin), Some(json!({"email": format!("p{n}@example.com")}))).await;
            }
        }
        let walk = |query: &'static str| {
            let app = &app;
            let admin = admin.clone();
            async move {
                let mut seen = vec![];
                let mut pages = 0;
                let mut cursor: Option<String> = None;
                loop {
                    let path = match &cursor {
                        Some(c) => format!("{query}&cursor={c}"),
                        None => query.to_string(),
                    };
                    let (status, _, page) = call(app, "GET", &path, Some(&admin), None).await;
                    assert_eq!(status, 200, "{path}: {page}");
                    pages += 1;
                    assert!(page["items"].as_array().unwrap().len() <= 2);
                    seen.extend(page["items"].as_array().unwrap().iter().cloned());
                    match page["next_cursor"].as_str() {
                        Some(c) => cursor = Some(c.to_string()),
                        None => break,
                    }
                    assert!(pages < 10, "the cursor goes round");
                }
                (seen, pages)
            }
        };
        let (seen, pages) = walk("/api/v1/subscribers?status=confirmed&limit=2").await;
        let emails: Vec<&str> = seen.iter().map(|s| s["email"].as_str().unwrap()).collect();
        assert_eq!(emails, confirmed, "oldest first, each once, only confirmed");
        assert_eq!(pages, 3);
        let (seen, _) = walk("/api/v1/subscribers?limit=2").await;
        assert_eq!(seen.len(), 8, "every subscriber once: {seen:?}");
        let ids: Vec<i64> = seen.iter().map(|s| s["id"].as_i64().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        let (seen, _) = walk("/api/v1/subscribers?status=pending&limit=2").await;
        assert_eq!(seen.iter().map(|s| s["email"].as_str().unwrap()).collect::<Vec<_>>(), ["p0@example.com", "p2@example.com", "p4@example.com"]);

        let mut made = vec![];
        for n in 0..5 {
            let (status, _, a) = call(&app, "POST", "/api/v1/articles", Some(&admin), Some(json!({"kind": "article", "title": format!("Zebrapaging guide {n}"), "body": "Text."}))).await;
            assert_eq!(status, 201, "{a}");
            made.push(a["id"].as_i64().unwrap());
        }
        let (seen, pages) = walk("/api/v1/articles?q=zebrapaging&limit=2").await;
        let mut ids: Vec<i64> = seen.iter().map(|a| a["id"].as_i64().unwrap()).collect();
        assert_eq!(pages, 3);
        assert_eq!(ids.len(), 5, "{ids:?}");
        ids.sort();
        assert_eq!(ids, made, "each article once");
        let (status, _, answer) = call(&app, "GET", "/api/v1/subscribers?cursor=bm90LWEtY3Vyc29y", Some(&admin), None).await;
        assert_eq!(status, 422);
        assert!(answer["errors"]["cursor"].is_string(), "{answer}");
    }

    async fn tickets_carry_the_requester_s_rating_once_given(backend) {
        let app = TestApp::spawn(backend).await;
        let writer = token(&app, "agent", &["tickets:read", "tickets:write"]).await;
        let (_, _, made) = call(&app, "POST", "/api/v1/tickets", Some(&writer), Some(new_ticket("rater@example.com", "Scanner offline"))).await;
        let id = made["id"].as_i64().unwrap();
        assert_eq!(made["satisfaction"], Value::Null, "{made}");
        let (status, _, _) = call(&app, "PUT", &format!("/api/v1/tickets/{id}/status"), Some(&writer), Some(json!({"status": "solved"}))).await;
        assert_eq!(status, 200);
        let (_, _, read) = call(&app, "GET", &format!("/api/v1/tickets/{id}"), Some(&writer), None).await;
        assert_eq!(read["satisfaction"], Value::Null, "asked, not rated yet: {read}");
        // The requester rates from the mail.
        app.drain_outbox().await;
        let mail = app.mails().into_iter().find(|m| m.to == "rater@example.com" && m.subject.contains("How did we do?")).expect("a rating request");
        let at = mail.text.find("?score=4").unwrap();
        let start = mail.text[..at].rfind("http").unwrap();
        let path = mail.text[start..at].trim_start_matches(&app.base).to_string();
        let requester = client();
        let page = requester.get(app.url(&format!("{path}?score=4"))).send().await.unwrap().text().await.unwrap();
        let r = requester.post(app.url(&path)).form(&[("csrf", extract_csrf(&page).as_str()), ("score", "4"), ("comment", "Quick & kind")]).send().await.unwrap();
        assert_eq!(r.status(), 303);

        let (_, _, read) = call(&app, "GET", &format!("/api/v1/tickets/{id}"), Some(&writer), None).await;
        assert_eq!(read["satisfaction"]["rating"], 4, "{read}");
        assert_eq!(read["satisfaction"]["comment"], "Quick & kind");
        assert!(read["satisfaction"]["rated_at"].as_str().is_some_and(|t| t.ends_with('Z')));
        let (_, _, list) = call(&app, "GET", "/api/v1/tickets?status=all", Some(&writer), None).await;
        let listed = list["items"].as_array().unwrap().iter().find(|t| t["id"] == id).unwrap();
        assert_eq!(listed["satisfaction"], read["satisfaction"], "the list carries it too");
        // Described in the OpenAPI document.
        let (_, _, doc) = call(&app, "GET", "/api/openapi.json", None, None).await;
        let rating = &doc["components"]["schemas"]["Satisfaction"]["properties"]["rating"];
        assert_eq!((rating["minimum"].as_i64(), rating["maximum"].as_i64()), (Some(1), Some(5)), "{rating}");
        assert!(doc["components"]["schemas"]["TicketSummary"]["properties"]["satisfaction"].is_object());
    }

    async fn the_openapi_document_validates_and_the_docs_page_renders_it_from_our_origin(backend) {
        let app = TestApp::spawn(backend).await;
        let (status, _, doc) = call(&app, "GET", "/api/openapi.json", None, None).await;
        assert_eq!(status, 200);
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
        assert!(doc["components"]["schemas"]["TicketSummary"].is_object());
        validate_with_openapi_spec_validator(&doc);
        let (status, page) = app.get_text("/api/docs").await;
        assert_eq!(status, 200);
        assert!(page.contains("id=\"swagger-ui\"") && page.contains("/api/openapi.json"), "{page}");
        for asset in ["swagger-ui-bundle", "swagger-ui.", "api-docs"] {
            let at = page.find(&format!("/static/{asset}")).unwrap_or_else(|| panic!("{asset} not linked: {page}"));
            let href: String = page[at..].chars().take_while(|c| *c != '"').collect();
            let r = app.get(&href).await;
            assert_eq!(r.status(), 200, "{href}");
        }
        assert!(!page.contains("<script>") && !page.contains("https://"), "no inline script, no other origin");
    }
}

fn chrono_year() -> i64 {
    use chrono::Datelike;
    chrono::Utc::now().year() as i64
}

/// Runs `openapi-spec-validator` (PyPI) on the document: skipped with a
/// note where it is not installed, except in CI (`.ci/run` installs it).
fn validate_with_openapi_spec_validator(doc: &Value) {
    let python = ["python3", "/usr/bin/python3"].into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import openapi_spec_validator"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    let Some(python) = python else {
        assert!(
            std::env::var("CI").is_err(),
            "openapi-spec-validator (pip install openapi-spec-validator) is required in CI"
        );
        eprintln!("openapi-spec-validator not installed: the OpenAPI document was not validated");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(doc).unwrap()).unwrap();
    let out = Command::new(python)
        .args(["-c", "import json, sys\nfrom openapi_spec_validator import OpenAPIV31SpecValidator, validate\nvalidate(json.load(open(sys.argv[1])), cls=OpenAPIV31SpecValidator)\nprint('valid')"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("valid"),
        "the OpenAPI document is not valid:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Swagger UI, from our own origin under the site's strict CSP, shows the
/// routes of the document in a real browser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_shows_the_routes_in_a_browser() {
    let Some(browser) = crate::browser::Browser::start(true).await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let c = &browser.client;
    c.goto(&app.url("/api/docs")).await.unwrap();
    crate::browser::wait_for_text(c, "/api/v1/tickets/{id}/replies").await;
    crate::browser::wait_for_text(c, "Lists tickets as the inbox does.").await;
    browser.close().await;
}
