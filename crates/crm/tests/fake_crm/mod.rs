//! A local stand-in for HubSpot's contacts API (the documented v3 shapes) plus a small order
//! system, on 127.0.0.1 port 0. Behaviour is picked by the email searched for:
//!
//! - `slow@example.com` answers after 2 s; `down@example.com` always answers 503;
//! - `flaky@example.com` answers 500 once, then finds contact 502;
//! - `nobody@example.com` finds nothing (`{"total": 0, "results": []}`).
//!
//! Every request is counted by key (`search:<value>`, `get:<id>`, `order:<n>`, `patch:<n>`),
//! so tests can tell whether the CRM was called at all.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const TOKEN: &str = "test-token";

#[derive(Default)]
pub struct Fake {
    hits: Mutex<HashMap<String, usize>>,
    /// The last PATCH body per order number.
    pub patches: Mutex<HashMap<String, Value>>,
}

impl Fake {
    pub fn hits(&self, key: &str) -> usize {
        self.lock().get(key).copied().unwrap_or(0)
    }

    pub fn total_hits(&self) -> usize {
        self.lock().values().sum()
    }

    fn hit(&self, key: String) -> usize {
        let mut hits = self.lock();
        let n = hits.entry(key).or_default();
        *n += 1;
        *n
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.hits.lock().unwrap()
    }
}

type Answer = (StatusCode, Json<Value>);

fn contact(id: &str, first: &str, last: &str, email: &str) -> Value {
    json!({
        "id": id,
        "properties": {
            "firstname": first, "lastname": last, "email": email, "phone": "+16145550101",
            "hs_language": "en", "hs_email_optout": "false", "total_revenue": "4820.15",
            "hs_object_id": id, "createdate": "2024-03-02T10:00:00Z",
            "lastmodifieddate": "2026-10-01T10:00:00Z"
        },
        "createdAt": "2024-03-02T10:00:00Z",
        "updatedAt": "2026-10-01T10:00:00Z",
        "archived": false
    })
}

fn maya() -> Value {
    contact("501", "Maya", "Thompson", "maya.thompson@example.com")
}

fn found(results: Vec<Value>) -> Answer {
    let total = results.len();
    (
        StatusCode::OK,
        Json(json!({"total": total, "results": results})),
    )
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

fn status(code: StatusCode) -> Answer {
    (
        code,
        Json(json!({"status": "error", "message": code.to_string()})),
    )
}

/// The values searched for, if the body has HubSpot's documented shape: `filterGroups` of
/// `filters` with `propertyName`, `operator: "EQ"` and `value`, and a `properties` list.
fn searched(body: &Value) -> Option<Vec<(String, String)>> {
    body.get("properties")?.as_array()?;
    let mut out = Vec::new();
    for group in body.get("filterGroups")?.as_array()? {
        for filter in group.get("filters")?.as_array()? {
            if filter.get("operator")?.as_str()? != "EQ" {
                return None;
            }
            let property = filter.get("propertyName")?.as_str()?.to_owned();
            out.push((property, filter.get("value")?.as_str()?.to_owned()));
        }
    }
    (!out.is_empty()).then_some(out)
}

async fn search(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    if !authorized(&headers) {
        return status(StatusCode::UNAUTHORIZED);
    }
    let Some(filters) = searched(&body) else {
        return status(StatusCode::BAD_REQUEST);
    };
    let value = filters[0].1.clone();
    let n = fake.hit(format!("search:{value}"));
    match value.as_str() {
        "maya.thompson@example.com" => found(vec![maya()]),
        "+16145550101" if filters.iter().any(|(p, _)| p == "mobilephone") => found(vec![maya()]),
        "slow@example.com" => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            found(vec![maya()])
        }
        "down@example.com" => status(StatusCode::SERVICE_UNAVAILABLE),
        "flaky@example.com" if n == 1 => status(StatusCode::INTERNAL_SERVER_ERROR),
        "flaky@example.com" => found(vec![contact("502", "Flo", "Kay", "flaky@example.com")]),
        _ => found(Vec::new()),
    }
}

async fn contact_by_id(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    if !authorized(&headers) {
        return status(StatusCode::UNAUTHORIZED);
    }
    fake.hit(format!("get:{id}"));
    match id.as_str() {
        "501" => (StatusCode::OK, Json(maya())),
        _ => status(StatusCode::NOT_FOUND),
    }
}

fn order(number: &str) -> Option<Value> {
    let (state, days_ago) = match number {
        "JM-1" => ("pending", 0),
        "JM-2" => ("in_transit", 3),
        "JM-3" => ("pending", 0),
        _ => return None,
    };
    let placed = time::OffsetDateTime::now_utc() - time::Duration::days(days_ago);
    Some(json!({
        "order_number": number, "state": state, "placed_at": placed.unix_timestamp() * 1000,
        "currency": "USD", "customer": {"id": "501", "email": "maya.thompson@example.com"},
        "ship_to": {"street1": "418 Maple Avenue", "city": "Columbus", "state": "OH",
                    "zip": "43215", "country": "US"},
        "lines": [{"sku": "HOME-DUV-Q", "title": "Duvet cover", "qty": 1, "unit_price": "89.99",
                   "category": "home"}]
    }))
}

async fn get_order(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> Answer {
    if !authorized(&headers) {
        return status(StatusCode::UNAUTHORIZED);
    }
    fake.hit(format!("order:{number}"));
    match order(&number) {
        Some(o) => (StatusCode::OK, Json(o)),
        None => status(StatusCode::NOT_FOUND),
    }
}

/// JM-3 is locked on the order system's side: it answers 409 although the order looks open.
async fn patch_order(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Path(number): Path<String>,
    Json(body): Json<Value>,
) -> Answer {
    if !authorized(&headers) {
        return status(StatusCode::UNAUTHORIZED);
    }
    fake.hit(format!("patch:{number}"));
    if number == "JM-3" {
        return status(StatusCode::CONFLICT);
    }
    fake.patches.lock().unwrap().insert(number.clone(), body);
    match order(&number) {
        Some(o) => (StatusCode::OK, Json(o)),
        None => status(StatusCode::NOT_FOUND),
    }
}

/// Starts the fake; returns its base URL and its counters.
pub async fn start() -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    let app = axum::Router::new()
        .route("/crm/v3/objects/contacts/search", post(search))
        .route("/crm/v3/objects/contacts/{id}", get(contact_by_id))
        .route("/orders/{number}", get(get_order).patch(patch_order))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, fake)
}
