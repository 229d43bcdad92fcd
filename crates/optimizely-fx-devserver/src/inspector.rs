//! `GET /`: the inspector, a server-rendered page that reloads itself every few seconds.
//!
//! Everything that comes from stored data goes through [`Page::text`], which escapes it;
//! markup can only be written from string literals ([`Page::markup`] takes `&'static str`).

use std::time::SystemTime;

use hyper::StatusCode;
use serde_json::Value;

use crate::records::UserSummary;
use crate::respond::{self, HttpResponse};
use crate::segments::SegmentDefinition;
use crate::state::Shared;
use crate::store::{DatafileHistory, StoreError, StoredBatch, StoredOdpEvent};
use crate::time;

/// Rows shown per section.
const RECENT: usize = 50;

const HEAD: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<title>optimizely-fx dev server</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #1b1b1b; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; font-size: 0.85rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
code { font-size: 0.8rem; word-break: break-all; }
.empty, .note { color: #666; }
ul.revisions { margin: 0; padding-left: 1rem; }
.error { color: #a00; }
</style>
</head>
<body>
"#;

pub(crate) fn page(shared: &Shared) -> HttpResponse {
    let now = SystemTime::now();
    let mut page = Page::default();
    page.markup(HEAD);
    page.markup("<h1>optimizely-fx dev server</h1>\n<p class=\"note\">");
    page.text(&shared.base_url);
    page.markup(
        " &middot; reloads every 5 s &middot; JSON: <a href=\"/_dev/datafiles\">datafiles</a>, \
         <a href=\"/_dev/users\">users</a>, <a href=\"/_dev/segments\">segments</a>, \
         <a href=\"/_dev/odp/events/recent\">ODP events</a>, \
         <a href=\"/_dev/events?limit=100\">event batches</a></p>\n",
    );
    page.section(
        "Datafiles",
        "datafiles",
        shared.db.datafile_histories(),
        datafiles,
    );
    let users = shared.db.users(RECENT, time::unix_millis(now));
    page.section("Users", "users", users, users_table);
    page.section("Segments", "segments", shared.db.definitions(), segments);
    let events = shared.db.recent_odp_events(RECENT);
    page.section("Recent ODP events", "odp-events", events, odp_events);
    let batches = shared.db.recent_batches(RECENT);
    page.section(
        "Recent impressions and conversions",
        "log-events",
        batches,
        log_events,
    );
    page.markup("</body>\n</html>\n");
    respond::html(StatusCode::OK, page.html)
}

#[derive(Default)]
struct Page {
    html: String,
}

impl Page {
    /// Writes markup; only literals can be written this way.
    fn markup(&mut self, markup: &'static str) {
        self.html.push_str(markup);
    }

    /// Writes text, escaped for element content and quoted attribute values.
    fn text(&mut self, text: &str) {
        for c in text.chars() {
            match c {
                '&' => self.html.push_str("&amp;"),
                '<' => self.html.push_str("&lt;"),
                '>' => self.html.push_str("&gt;"),
                '"' => self.html.push_str("&quot;"),
                '\'' => self.html.push_str("&#39;"),
                _ => self.html.push(c),
            }
        }
    }

    fn cell(&mut self, text: &str) {
        self.markup("<td>");
        self.text(text);
        self.markup("</td>");
    }

    fn code_cell(&mut self, text: &str) {
        self.markup("<td><code>");
        self.text(text);
        self.markup("</code></td>");
    }

    fn header_row(&mut self, names: &[&'static str]) {
        self.markup("<table>\n<tr>");
        for name in names {
            self.markup("<th>");
            self.markup(name);
            self.markup("</th>");
        }
        self.markup("</tr>\n");
    }

    /// A titled section rendered by `render`, or the storage error that prevented it.
    fn section<T>(
        &mut self,
        title: &'static str,
        id: &'static str,
        data: Result<Vec<T>, StoreError>,
        render: fn(&mut Page, &[T]),
    ) {
        self.markup("<section id=\"");
        self.markup(id);
        self.markup("\">\n<h2>");
        self.markup(title);
        self.markup("</h2>\n");
        match data {
            Ok(items) if items.is_empty() => self.markup("<p class=\"empty\">None yet.</p>\n"),
            Ok(items) => render(self, &items),
            Err(error) => {
                self.markup("<p class=\"error\">");
                self.text(&error.to_string());
                self.markup("</p>\n");
            }
        }
        self.markup("</section>\n");
    }
}

fn datafiles(page: &mut Page, histories: &[DatafileHistory]) {
    page.header_row(&[
        "SDK key",
        "Served",
        "Last-Modified",
        "Revisions (newest first)",
    ]);
    for history in histories {
        page.markup("<tr>");
        page.code_cell(&history.sdk_key);
        let served = match history.current {
            Some(number) => format!("revision {number}"),
            None => "removed".to_owned(),
        };
        page.cell(&served);
        page.cell(&time::http_date(history.last_modified));
        page.markup("<td><ul class=\"revisions\">");
        for revision in &history.revisions {
            page.markup("<li>");
            let label = revision
                .label
                .as_deref()
                .map(|label| format!(", datafile revision \"{label}\""))
                .unwrap_or_default();
            let stored = time::rfc3339_utc(time::from_unix_millis(revision.stored_ms));
            page.text(&format!(
                "#{}{label}, {} bytes, stored {stored}",
                revision.number, revision.bytes
            ));
            page.markup("</li>");
        }
        page.markup("</ul></td></tr>\n");
    }
    page.markup("</table>\n");
}

fn users_table(page: &mut Page, users: &[UserSummary]) {
    page.header_row(&["User", "Identifiers", "Segments", "Events", "Last event"]);
    for user in users {
        page.markup("<tr>");
        let id = user
            .id
            .map_or_else(|| "static".to_owned(), |id| format!("#{id}"));
        page.cell(&id);
        let identifiers: Vec<String> = user
            .identifiers
            .iter()
            .map(|identifier| match &identifier.kind {
                Some(kind) => format!("{kind}: {}", identifier.value),
                None => format!("id: {}", identifier.value),
            })
            .collect();
        page.code_cell(&identifiers.join(", "));
        page.cell(&user.segments.join(", "));
        page.cell(&user.events.to_string());
        let last = user
            .last_event_at
            .map(time::rfc3339_utc)
            .unwrap_or_default();
        page.cell(&last);
        page.markup("</tr>\n");
    }
    page.markup("</table>\n");
}

fn segments(page: &mut Page, definitions: &[SegmentDefinition]) {
    page.header_row(&["Segment", "Description", "Members", "Rule"]);
    for definition in definitions {
        page.markup("<tr>");
        page.code_cell(definition.name());
        page.cell(definition.description().unwrap_or_default());
        page.code_cell(&definition.members().join(", "));
        let rule = definition
            .rule()
            .map(ToString::to_string)
            .unwrap_or_default();
        page.code_cell(&rule);
        page.markup("</tr>\n");
    }
    page.markup("</table>\n");
}

fn odp_events(page: &mut Page, events: &[StoredOdpEvent]) {
    page.header_row(&["Received", "User", "Type", "Action", "Identifiers", "Data"]);
    for stored in events {
        let field = |name: &str| stored.event.get(name).and_then(Value::as_str).unwrap_or("");
        page.markup("<tr class=\"odp-event\">");
        page.cell(&time::rfc3339_utc(time::from_unix_millis(
            stored.received_ms,
        )));
        page.cell(
            &stored
                .user
                .map(|user| format!("#{user}"))
                .unwrap_or_default(),
        );
        page.cell(field("type"));
        page.markup("<td class=\"action\">");
        page.text(field("action"));
        page.markup("</td>");
        page.code_cell(&pairs(stored.event.get("identifiers")));
        page.code_cell(&pairs(stored.event.get("data")));
        page.markup("</tr>\n");
    }
    page.markup("</table>\n");
}

/// `key: value, ...` of a JSON object (strings without quotes).
fn pairs(object: Option<&Value>) -> String {
    let Some(object) = object.and_then(Value::as_object) else {
        return String::new();
    };
    object
        .iter()
        .map(|(key, value)| match value {
            Value::String(text) => format!("{key}: {text}"),
            other => format!("{key}: {other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One impression or conversion of a batch.
struct LogEntry {
    received_ms: i64,
    visitor: String,
    kind: &'static str,
    details: String,
}

fn log_events(page: &mut Page, batches: &[StoredBatch]) {
    let entries: Vec<LogEntry> = batches.iter().flat_map(entries_of).take(RECENT).collect();
    page.header_row(&["Received", "Visitor", "Kind", "Details"]);
    for entry in &entries {
        page.markup("<tr>");
        page.cell(&time::rfc3339_utc(time::from_unix_millis(
            entry.received_ms,
        )));
        page.code_cell(&entry.visitor);
        page.cell(entry.kind);
        page.code_cell(&entry.details);
        page.markup("</tr>\n");
    }
    page.markup("</table>\n");
}

/// Impressions (one per decision) and conversions (events other than `campaign_activated`).
fn entries_of(stored: &StoredBatch) -> Vec<LogEntry> {
    let list = |value: &Value, name: &str| -> Vec<Value> {
        value
            .get(name)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut entries = Vec::new();
    for visitor in list(&stored.batch, "visitors") {
        let visitor_id = visitor
            .get("visitor_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        for snapshot in list(&visitor, "snapshots") {
            let entry = |kind, details| LogEntry {
                received_ms: stored.received_ms,
                visitor: visitor_id.clone(),
                kind,
                details,
            };
            for decision in list(&snapshot, "decisions") {
                entries.push(entry("impression", impression_details(&decision)));
            }
            for event in list(&snapshot, "events") {
                let key = event.get("key").and_then(Value::as_str).unwrap_or_default();
                if key != "campaign_activated" {
                    entries.push(entry("conversion", conversion_details(&event)));
                }
            }
        }
    }
    entries
}

fn impression_details(decision: &Value) -> String {
    let metadata = decision.get("metadata");
    let field = |name: &str| {
        metadata
            .and_then(|m| m.get(name))
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .unwrap_or_default()
    };
    format!(
        "flag {}, rule {} ({}), variation {}, enabled {}",
        field("flag_key"),
        field("rule_key"),
        field("rule_type"),
        field("variation_key"),
        field("enabled")
    )
}

fn conversion_details(event: &Value) -> String {
    let mut details = format!(
        "event {}",
        event.get("key").and_then(Value::as_str).unwrap_or_default()
    );
    for name in ["revenue", "value"] {
        if let Some(value) = event.get(name) {
            details.push_str(&format!(", {name} {value}"));
        }
    }
    if let Some(tags) = event
        .get("tags")
        .filter(|tags| tags.as_object().is_some_and(|t| !t.is_empty()))
    {
        details.push_str(&format!(", tags {tags}"));
    }
    details
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_is_escaped_and_markup_is_not() {
        let mut page = Page::default();
        page.markup("<p>");
        page.text(r#"<script>alert("x" & 'y')</script>"#);
        page.markup("</p>");
        assert_eq!(
            page.html,
            "<p>&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;</p>"
        );
    }

    #[test]
    fn batches_become_impressions_and_conversions() {
        let stored = StoredBatch {
            received_ms: 0,
            batch: json!({"visitors": [{"visitor_id": "v1", "snapshots": [
                {"decisions": [{"metadata": {"flag_key": "f", "rule_key": "r", "rule_type": "ab",
                                             "variation_key": "on", "enabled": true}}],
                 "events": [{"key": "campaign_activated"}]},
                {"events": [{"key": "purchase", "revenue": 4200, "tags": {"revenue": 4200}}]}
            ]}]}),
        };
        let entries = entries_of(&stored);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].kind, "impression");
        assert_eq!(
            entries[0].details,
            "flag f, rule r (ab), variation on, enabled true"
        );
        assert_eq!(entries[1].kind, "conversion");
        assert_eq!(
            entries[1].details,
            r#"event purchase, revenue 4200, tags {"revenue":4200}"#
        );
        assert_eq!(entries[1].visitor, "v1");
    }
}
