use std::collections::HashMap;

use hyper::StatusCode;
use hyper::body::Bytes;
use hyper::header::{self, HeaderMap};
use serde_json::Value;

use crate::respond::{self, HttpResponse};
use crate::state::{Shared, lock};
use crate::time;

/// Values written into a served datafile's ODP integration.
pub(crate) struct OdpRewrite {
    pub(crate) host: String,
    pub(crate) public_key: String,
}

struct Entry {
    /// `None` once removed; the entry stays so `last_modified` keeps increasing.
    body: Option<Bytes>,
    /// Whole seconds since the epoch.
    last_modified: u64,
}

/// Datafiles by SDK key, their access tokens, and the ODP rewrite to apply.
pub(crate) struct DatafileStore {
    entries: HashMap<String, Entry>,
    tokens: HashMap<String, String>,
    rewrite: Option<OdpRewrite>,
}

impl DatafileStore {
    pub(crate) fn new(rewrite: Option<OdpRewrite>) -> Self {
        DatafileStore {
            entries: HashMap::new(),
            tokens: HashMap::new(),
            rewrite,
        }
    }

    /// Stores a datafile and returns its `Last-Modified` (seconds since the epoch): `now`, but
    /// always at least one second after the previous value for this key.
    pub(crate) fn set(&mut self, sdk_key: String, raw: String, now: u64) -> u64 {
        let body = self.served_form(raw);
        let last_modified = match self.entries.get(&sdk_key) {
            Some(previous) => now.max(previous.last_modified.saturating_add(1)),
            None => now,
        };
        let entry = Entry {
            body: Some(Bytes::from(body)),
            last_modified,
        };
        self.entries.insert(sdk_key, entry);
        last_modified
    }

    /// Serves what a previous run served (`None`: the datafile was removed), with the same
    /// `Last-Modified`.
    pub(crate) fn restore(&mut self, sdk_key: String, raw: Option<String>, last_modified: u64) {
        let body = raw.map(|raw| Bytes::from(self.served_form(raw)));
        self.entries.insert(
            sdk_key,
            Entry {
                body,
                last_modified,
            },
        );
    }

    fn served_form(&self, raw: String) -> String {
        match &self.rewrite {
            Some(rewrite) => rewrite_odp_integration(&raw, rewrite).unwrap_or(raw),
            None => raw,
        }
    }

    /// Stops serving a datafile; `false` if there was none.
    pub(crate) fn remove(&mut self, sdk_key: &str) -> bool {
        self.entries
            .get_mut(sdk_key)
            .and_then(|entry| entry.body.take())
            .is_some()
    }

    pub(crate) fn set_access_token(&mut self, sdk_key: String, token: String) {
        self.tokens.insert(sdk_key, token);
    }

    fn current(&self, sdk_key: &str) -> Option<(Bytes, u64)> {
        let entry = self.entries.get(sdk_key)?;
        Some((entry.body.clone()?, entry.last_modified))
    }
}

/// The datafile with every `odp` integration pointed at this server; `None` when the text is
/// not a JSON object with such an integration (then it is served unchanged).
fn rewrite_odp_integration(raw: &str, rewrite: &OdpRewrite) -> Option<String> {
    let mut datafile: Value = serde_json::from_str(raw).ok()?;
    let integrations = datafile.get_mut("integrations")?.as_array_mut()?;
    let mut rewritten = false;
    for integration in integrations.iter_mut().filter_map(Value::as_object_mut) {
        if integration.get("key").and_then(Value::as_str) == Some("odp") {
            integration.insert("host".into(), Value::from(rewrite.host.as_str()));
            integration.insert("publicKey".into(), Value::from(rewrite.public_key.as_str()));
            rewritten = true;
        }
    }
    if !rewritten {
        return None;
    }
    serde_json::to_string(&datafile).ok()
}

/// Answers `GET /datafiles/{sdk_key}.json` (`needs_token == false`) and
/// `GET /datafiles/auth/{sdk_key}.json` (`needs_token == true`).
pub(crate) fn serve(
    shared: &Shared,
    sdk_key: &str,
    needs_token: bool,
    headers: &HeaderMap,
) -> HttpResponse {
    let (current, token) = {
        let store = lock(&shared.datafiles);
        (store.current(sdk_key), store.tokens.get(sdk_key).cloned())
    };
    let Some((body, last_modified)) = current else {
        return respond::error(
            StatusCode::NOT_FOUND,
            format!("no datafile for sdk key '{sdk_key}'"),
        );
    };
    if needs_token && let Some(refusal) = bearer_refusal(headers, token.as_deref()) {
        return refusal;
    }
    let last_modified_text = time::http_date(last_modified);
    let response = if is_unmodified_since(headers, last_modified) {
        respond::empty(StatusCode::NOT_MODIFIED)
    } else {
        respond::json_bytes(StatusCode::OK, body)
    };
    respond::with_header(response, header::LAST_MODIFIED, &last_modified_text)
}

fn is_unmodified_since(headers: &HeaderMap, last_modified: u64) -> bool {
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|value| value.to_str().ok())
        .and_then(time::parse_http_date)
        .is_some_and(|since| since >= last_modified)
}

/// The `401`/`403` to answer unless the request carries the expected bearer token.
fn bearer_refusal(headers: &HeaderMap, expected: Option<&str>) -> Option<HttpResponse> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_token);
    let Some(presented) = presented else {
        let refusal = respond::error(
            StatusCode::UNAUTHORIZED,
            "missing 'Authorization: Bearer <token>' header",
        );
        return Some(respond::with_header(
            refusal,
            header::WWW_AUTHENTICATE,
            "Bearer",
        ));
    };
    match expected {
        Some(expected) if expected == presented => None,
        Some(_) => Some(respond::error(
            StatusCode::FORBIDDEN,
            "access token not valid for this sdk key",
        )),
        None => Some(respond::error(
            StatusCode::FORBIDDEN,
            "no access token is configured for this sdk key",
        )),
    }
}

fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite() -> OdpRewrite {
        OdpRewrite {
            host: "http://127.0.0.1:9".into(),
            public_key: "dev".into(),
        }
    }

    #[test]
    fn last_modified_strictly_increases() {
        let mut store = DatafileStore::new(None);
        let first = store.set("k".into(), "{}".into(), 100);
        let second = store.set("k".into(), "{}".into(), 100);
        assert_eq!((first, second), (100, 101));
        assert!(store.remove("k"));
        assert!(!store.remove("k"));
        assert_eq!(store.set("k".into(), "{}".into(), 50), 102);
        assert_eq!(store.set("k".into(), "{}".into(), 500), 500);
    }

    #[test]
    fn rewrites_only_odp_integrations() {
        let raw = r#"{"a":1,"integrations":[{"key":"x","host":"h"},{"key":"odp","host":"https://api.zaius.com","publicKey":"real"}]}"#;
        let rewritten = rewrite_odp_integration(raw, &rewrite()).unwrap();
        assert_eq!(
            rewritten,
            r#"{"a":1,"integrations":[{"key":"x","host":"h"},{"key":"odp","host":"http://127.0.0.1:9","publicKey":"dev"}]}"#
        );
        assert_eq!(
            rewrite_odp_integration(r#"{"integrations":[]}"#, &rewrite()),
            None
        );
        assert_eq!(rewrite_odp_integration("not json", &rewrite()), None);
        assert_eq!(rewrite_odp_integration("[1]", &rewrite()), None);
    }

    #[test]
    fn parses_bearer_tokens() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
    }
}
