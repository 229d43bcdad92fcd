//! The ODP segments GraphQL request body and the parsing of its response.

use serde_json::{Value, json};

/// Parameterised audiences query (variables form), so user ids and segment names are escaped
/// by the JSON encoder rather than spliced into the query text.
const AUDIENCES_QUERY: &str = "query($userId: String, $audiences: [String]) {customer(fs_user_id: $userId) {audiences(subset: $audiences) {edges {node {name state}}}}}";

const INVALID_IDENTIFIER_CODE: &str = "INVALID_IDENTIFIER_EXCEPTION";

/// JSON body of `POST {host}/v3/graphql` asking which of `segments` the user qualifies for.
///
/// ```
/// let body = optimizely_fx_core::odp::segments_request_body("u\"1", &["a".to_owned()]);
/// let text = String::from_utf8(body).unwrap();
/// assert!(text.contains(r#""variables":{"userId":"u\"1","audiences":["a"]}"#));
/// ```
pub fn segments_request_body(user_id: &str, segments: &[String]) -> Vec<u8> {
    let body = json!({
        "query": AUDIENCES_QUERY,
        "variables": { "userId": user_id, "audiences": segments },
    });
    body.to_string().into_bytes()
}

/// Key of a user's entry in the segments cache: `fs_user_id-$-<user id>`.
pub fn segments_cache_key(user_id: &str) -> String {
    format!("fs_user_id-$-{user_id}")
}

/// Why a GraphQL response did not yield segments. `Display` is the part in parentheses of the
/// official `Audience segments fetch failed (...)` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SegmentsResponseError {
    /// ODP does not know the user (`extensions.code` = `INVALID_IDENTIFIER_EXCEPTION`).
    #[error("invalid identifier")]
    InvalidIdentifier,
    /// Another GraphQL error, named by its `extensions.classification`.
    #[error("{0}")]
    Classification(String),
    /// The body is not JSON or not the expected shape.
    #[error("decode error")]
    Decode,
}

/// Parses a GraphQL response body into the names of the segments whose `state` is `qualified`,
/// in response order.
///
/// ```
/// use optimizely_fx_core::odp::parse_segments_response;
/// let body = br#"{"data":{"customer":{"audiences":{"edges":[
///   {"node":{"name":"a","state":"qualified"}},{"node":{"name":"b","state":"not_qualified"}}]}}}}"#;
/// assert_eq!(parse_segments_response(body), Ok(vec!["a".to_owned()]));
/// ```
pub fn parse_segments_response(body: &[u8]) -> Result<Vec<String>, SegmentsResponseError> {
    let response: Value =
        serde_json::from_slice(body).map_err(|_| SegmentsResponseError::Decode)?;
    let response = response.as_object().ok_or(SegmentsResponseError::Decode)?;
    if let Some(errors) = response.get("errors") {
        return Err(classify_errors(errors));
    }
    let edges = response
        .get("data")
        .and_then(|d| d.get("customer"))
        .and_then(|c| c.get("audiences"))
        .and_then(|a| a.get("edges"))
        .and_then(Value::as_array)
        .ok_or(SegmentsResponseError::Decode)?;
    let mut qualified = Vec::new();
    for edge in edges {
        let node = edge.get("node").ok_or(SegmentsResponseError::Decode)?;
        let name = node.get("name").and_then(Value::as_str);
        let state = node.get("state").and_then(Value::as_str);
        match (name, state) {
            (Some(name), Some("qualified")) => qualified.push(name.to_owned()),
            (Some(_), Some(_)) => {}
            _ => return Err(SegmentsResponseError::Decode),
        }
    }
    Ok(qualified)
}

fn classify_errors(errors: &Value) -> SegmentsResponseError {
    let extensions = errors
        .as_array()
        .and_then(|list| list.first())
        .and_then(|first| first.get("extensions"));
    let Some(extensions) = extensions else {
        return SegmentsResponseError::Decode;
    };
    if extensions.get("code").and_then(Value::as_str) == Some(INVALID_IDENTIFIER_CODE) {
        return SegmentsResponseError::InvalidIdentifier;
    }
    match extensions.get("classification").and_then(Value::as_str) {
        Some(classification) => SegmentsResponseError::Classification(classification.to_owned()),
        None => SegmentsResponseError::Decode,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_body_is_the_variables_form() {
        let body = segments_request_body("tester-101", &["a".to_owned(), "b".to_owned()]);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"query":"query($userId: String, $audiences: [String]) {customer(fs_user_id: $userId) {audiences(subset: $audiences) {edges {node {name state}}}}}","variables":{"userId":"tester-101","audiences":["a","b"]}}"#
        );
    }

    #[test]
    fn cache_key() {
        assert_eq!(segments_cache_key("test-user"), "fs_user_id-$-test-user");
    }

    #[test]
    fn qualified_nodes_in_order() {
        let body = br#"{"data":{"customer":{"audiences":{"edges":[
            {"node":{"name":"c","state":"qualified","description":"x"}},
            {"node":{"name":"a","state":"not-qualified"}},
            {"node":{"name":"b","state":"qualified"}}]}}}}"#;
        assert_eq!(
            parse_segments_response(body),
            Ok(vec!["c".to_owned(), "b".to_owned()])
        );
        let empty = br#"{"data":{"customer":{"audiences":{"edges":[]}}}}"#;
        assert_eq!(parse_segments_response(empty), Ok(vec![]));
    }

    #[test]
    fn invalid_identifier_by_code() {
        let body = br#"{"errors":[{"message":"Exception while fetching data (/customer) : java.lang.RuntimeException: could not resolve _fs_user_id = asdsdaddddd","locations":[{"line":2,"column":3}],"path":["customer"],"extensions":{"code":"INVALID_IDENTIFIER_EXCEPTION","classification":"DataFetchingException"}}],"data":{"customer":null}}"#;
        let err = parse_segments_response(body).unwrap_err();
        assert_eq!(err, SegmentsResponseError::InvalidIdentifier);
        assert_eq!(err.to_string(), "invalid identifier");
    }

    #[test]
    fn other_errors_by_classification() {
        let body = br#"{"errors":[{"message":"x","extensions":{"classification":"TestExceptionClass"}}],"data":{"customer":null}}"#;
        assert_eq!(
            parse_segments_response(body),
            Err(SegmentsResponseError::Classification(
                "TestExceptionClass".into()
            ))
        );
    }

    #[test]
    fn decode_errors() {
        let cases: [&[u8]; 9] = [
            b"not json",
            b"[]",
            br#"{"data":{}}"#,
            br#"{"data":{"customer":{"audiences":{"edges":{}}}}}"#,
            br#"{"data":{"customer":{"audiences":{"edges":[{"x":1}]}}}}"#,
            br#"{"data":{"customer":{"audiences":{"edges":[{"node":{"name":1,"state":"qualified"}}]}}}}"#,
            br#"{"errors":["a","b"]}"#,
            br#"{"errors":[{"message":"m"}]}"#,
            b"",
        ];
        for body in cases {
            assert_eq!(
                parse_segments_response(body),
                Err(SegmentsResponseError::Decode),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
