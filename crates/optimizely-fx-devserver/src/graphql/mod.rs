//! `POST /v3/graphql`: the ODP segment query, in both the variables form and the inlined form.
//!
//! Schema understood (everything else is a validation error):
//! `Query.customer(fs_user_id: String | vuid: String): Customer`,
//! `Customer.audiences(subset: [String]): AudienceConnection`,
//! `AudienceConnection.edges: [AudienceEdge]`, `AudienceEdge.node: Audience`,
//! `Audience.name`, `Audience.state` (`qualified` / `not_qualified`), `Audience.description`,
//! and `__typename` on every type.

mod parser;

use std::time::SystemTime;

use hyper::StatusCode;
use hyper::header::HeaderMap;
use serde_json::{Map, Value, json};

use crate::odp_events::api_key_refusal;
use crate::respond::{self, HttpResponse};
use crate::state::Shared;
use crate::time;
use parser::{Field, InputValue, Operation, Position};

const QUALIFIED: &str = "qualified";
const NOT_QUALIFIED: &str = "not_qualified";

/// Answers one GraphQL request.
pub(crate) fn handle(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> HttpResponse {
    if let Some(refusal) = api_key_refusal(shared, headers, SystemTime::now()) {
        return refusal;
    }
    let request = match GraphqlRequest::parse(body) {
        Ok(request) => request,
        Err(message) => return request_error(&message, None, "InvalidSyntax"),
    };
    let operation = match parser::parse(&request.query) {
        Ok(operation) => operation,
        Err(error) => {
            return request_error(&error.message, Some(error.position), "InvalidSyntax");
        }
    };
    let now = time::unix_millis(SystemTime::now());
    let lookup = |kind: &str, user: &str| {
        shared
            .db
            .qualified_segments(kind, user, now)
            .map_err(|error| error.to_string())
    };
    let executor = Executor {
        operation: &operation,
        variables: &request.variables,
        segments_of: &lookup,
    };
    match executor.query() {
        Ok(data) => respond::json(StatusCode::OK, &json!({ "data": data })),
        Err(QueryError::Invalid { message, position }) => {
            request_error(&message, Some(position), "ValidationError")
        }
        Err(QueryError::UnknownUser(unknown)) => invalid_identifier(&unknown),
        Err(QueryError::Storage(message)) => {
            log::error!("dev server cannot evaluate segments: {message}");
            respond::json(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({ "errors": [{
                    "message": format!("cannot evaluate segments: {message}"),
                    "extensions": { "classification": "DataFetchingException" },
                }] }),
            )
        }
    }
}

struct GraphqlRequest {
    query: String,
    variables: Map<String, Value>,
}

impl GraphqlRequest {
    fn parse(body: &[u8]) -> Result<Self, String> {
        let request: Value = serde_json::from_slice(body)
            .map_err(|error| format!("request body is not valid JSON: {error}"))?;
        let Value::Object(mut request) = request else {
            return Err("request body must be a JSON object with a 'query' string".to_owned());
        };
        let query = match request.remove("query") {
            Some(Value::String(query)) => query,
            None => return Err("request body has no 'query'".to_owned()),
            Some(_) => return Err("'query' must be a string".to_owned()),
        };
        let variables = match request.remove("variables") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(variables)) => variables,
            Some(_) => return Err("'variables' must be a JSON object".to_owned()),
        };
        Ok(GraphqlRequest { query, variables })
    }
}

/// `400` with a GraphQL `errors` body.
fn request_error(message: &str, position: Option<Position>, classification: &str) -> HttpResponse {
    let locations: Vec<Value> = position.into_iter().map(location).collect();
    respond::json(
        StatusCode::BAD_REQUEST,
        &json!({
            "errors": [{
                "message": message,
                "locations": locations,
                "extensions": { "classification": classification },
            }]
        }),
    )
}

fn location(position: Position) -> Value {
    json!({ "line": position.line, "column": position.column })
}

struct UnknownUser {
    key: String,
    value: String,
    response_key: String,
    position: Position,
}

/// The answer ODP gives for a user it does not know (HTTP 200, odp.md §6.4).
fn invalid_identifier(unknown: &UnknownUser) -> HttpResponse {
    let UnknownUser {
        key,
        value,
        response_key,
        position,
    } = unknown;
    let mut data = Map::new();
    data.insert(response_key.clone(), Value::Null);
    respond::json(
        StatusCode::OK,
        &json!({
            "errors": [{
                "message": format!("Exception while fetching data (/{response_key}) : java.lang.RuntimeException: could not resolve _{key} = {value}"),
                "locations": [location(*position)],
                "path": [response_key],
                "extensions": {
                    "code": "INVALID_IDENTIFIER_EXCEPTION",
                    "classification": "DataFetchingException",
                },
            }],
            "data": data,
        }),
    )
}

enum QueryError {
    Invalid {
        message: String,
        position: Position,
    },
    UnknownUser(UnknownUser),
    /// The database failed.
    Storage(String),
}

fn invalid(field: &Field, message: String) -> QueryError {
    QueryError::Invalid {
        message,
        position: field.position,
    }
}

type Resolved = Result<Value, QueryError>;

/// Finds the qualified segments of the user with identifier (kind, value); `None` for an
/// unknown user, `Err` when the storage failed.
type SegmentLookup<'a> = dyn Fn(&str, &str) -> Result<Option<Vec<String>>, String> + 'a;

struct Executor<'a> {
    operation: &'a Operation,
    variables: &'a Map<String, Value>,
    /// Qualified segments of the user with identifier (kind, value), `None` for an unknown
    /// user.
    segments_of: &'a SegmentLookup<'a>,
}

impl Executor<'_> {
    fn query(&self) -> Resolved {
        select(&self.operation.selection, |field| {
            match field.name.as_str() {
                "customer" => self.customer(field),
                "__typename" => leaf(field, Value::from("Query")),
                _ => Err(undefined(field, "Query")),
            }
        })
    }

    fn customer(&self, field: &Field) -> Resolved {
        let arguments = self.arguments(field, &["fs_user_id", "vuid"])?;
        let (key, user) = match arguments.as_slice() {
            [(key, Value::String(user))] => (key, user),
            [] => {
                let message = "field 'customer' needs an 'fs_user_id' or 'vuid' argument";
                return Err(invalid(field, message.to_owned()));
            }
            [(key, _)] => {
                let message = format!("argument '{key}' of field 'customer' must be a string");
                return Err(invalid(field, message));
            }
            _ => {
                let message = "field 'customer' takes only one of 'fs_user_id' and 'vuid'";
                return Err(invalid(field, message.to_owned()));
            }
        };
        require_selection(field, "Customer")?;
        let found = (self.segments_of)(key, user).map_err(QueryError::Storage)?;
        let Some(qualified) = found else {
            return Err(QueryError::UnknownUser(UnknownUser {
                key: key.clone(),
                value: user.clone(),
                response_key: field.response_key().to_owned(),
                position: field.position,
            }));
        };
        select(&field.selection, |field| match field.name.as_str() {
            "audiences" => self.audiences(field, &qualified),
            "__typename" => leaf(field, Value::from("Customer")),
            _ => Err(undefined(field, "Customer")),
        })
    }

    fn audiences(&self, field: &Field, qualified: &[String]) -> Resolved {
        let arguments = self.arguments(field, &["subset"])?;
        let requested = match arguments.into_iter().next() {
            None | Some((_, Value::Null)) => qualified.to_vec(),
            Some((_, subset)) => segment_names(subset)
                .ok_or_else(|| invalid(field, "'subset' must be a list of strings".to_owned()))?,
        };
        require_selection(field, "AudienceConnection")?;
        select(&field.selection, |field| match field.name.as_str() {
            "edges" => {
                no_arguments(field)?;
                require_selection(field, "AudienceEdge")?;
                let edges = requested.iter().map(|segment| {
                    let state = if qualified.contains(segment) {
                        QUALIFIED
                    } else {
                        NOT_QUALIFIED
                    };
                    edge(field, segment, state)
                });
                Ok(Value::Array(edges.collect::<Result<_, _>>()?))
            }
            "__typename" => leaf(field, Value::from("AudienceConnection")),
            _ => Err(undefined(field, "AudienceConnection")),
        })
    }

    /// The arguments of `field` with variables substituted; refuses names not in `allowed`.
    fn arguments(
        &self,
        field: &Field,
        allowed: &[&str],
    ) -> Result<Vec<(String, Value)>, QueryError> {
        field
            .arguments
            .iter()
            .map(|(name, value)| {
                if !allowed.contains(&name.as_str()) {
                    let message = format!("unknown argument '{name}' on field '{}'", field.name);
                    return Err(invalid(field, message));
                }
                Ok((name.clone(), self.value(field, value)?))
            })
            .collect()
    }

    fn value(&self, field: &Field, value: &InputValue) -> Resolved {
        Ok(match value {
            InputValue::Variable(name) => return self.variable(field, name),
            InputValue::String(text) | InputValue::Enum(text) => Value::from(text.as_str()),
            InputValue::Int(n) => Value::from(*n),
            InputValue::Float(x) => serde_json::Number::from_f64(*x)
                .map(Value::Number)
                .ok_or_else(|| invalid(field, format!("number {x} is out of range")))?,
            InputValue::Boolean(b) => Value::from(*b),
            InputValue::Null => Value::Null,
            InputValue::List(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.value(field, item))
                    .collect::<Result<_, _>>()?,
            ),
            InputValue::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(name, item)| Ok((name.clone(), self.value(field, item)?)))
                    .collect::<Result<_, QueryError>>()?,
            ),
        })
    }

    fn variable(&self, field: &Field, name: &str) -> Resolved {
        let Some(definition) = self.operation.variables.iter().find(|v| v.name == name) else {
            return Err(invalid(field, format!("variable '${name}' is not defined")));
        };
        match (self.variables.get(name), &definition.default) {
            (Some(given), _) => Ok(given.clone()),
            (None, Some(default)) => self.value(field, default),
            (None, None) => Ok(Value::Null),
        }
    }
}

fn edge(field: &Field, segment: &str, state: &str) -> Resolved {
    select(&field.selection, |field| match field.name.as_str() {
        "node" => {
            no_arguments(field)?;
            require_selection(field, "Audience")?;
            select(&field.selection, |field| match field.name.as_str() {
                "name" => leaf(field, Value::from(segment)),
                "state" => leaf(field, Value::from(state)),
                "description" => leaf(field, Value::Null),
                "__typename" => leaf(field, Value::from("Audience")),
                _ => Err(undefined(field, "Audience")),
            })
        }
        "__typename" => leaf(field, Value::from("AudienceEdge")),
        _ => Err(undefined(field, "AudienceEdge")),
    })
}

/// A list of segment names; a single name counts as a list of one (GraphQL input coercion).
fn segment_names(subset: Value) -> Option<Vec<String>> {
    match subset {
        Value::String(name) => Some(vec![name]),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(name) => Some(name),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// Resolves every field of a selection into an object keyed by response key.
fn select(fields: &[Field], mut resolve: impl FnMut(&Field) -> Resolved) -> Resolved {
    let mut object = Map::new();
    for field in fields {
        let value = resolve(field)?;
        object.insert(field.response_key().to_owned(), value);
    }
    Ok(Value::Object(object))
}

fn leaf(field: &Field, value: Value) -> Resolved {
    no_arguments(field)?;
    if !field.selection.is_empty() {
        let message = format!("field '{}' is a scalar and takes no selection", field.name);
        return Err(invalid(field, message));
    }
    Ok(value)
}

fn no_arguments(field: &Field) -> Result<(), QueryError> {
    match field.arguments.first() {
        Some((name, _)) => Err(invalid(
            field,
            format!("unknown argument '{name}' on field '{}'", field.name),
        )),
        None => Ok(()),
    }
}

fn require_selection(field: &Field, type_name: &str) -> Result<(), QueryError> {
    if field.selection.is_empty() {
        let message = format!(
            "field '{}' of type '{type_name}' needs a selection of subfields",
            field.name
        );
        return Err(invalid(field, message));
    }
    Ok(())
}

fn undefined(field: &Field, type_name: &str) -> QueryError {
    invalid(
        field,
        format!("field '{}' in type '{type_name}' is undefined", field.name),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(query: &str, variables: Value) -> Result<Value, String> {
        let operation = parser::parse(query).map_err(|e| e.message)?;
        let Value::Object(variables) = variables else {
            panic!("variables must be an object")
        };
        let segments_of = |_kind: &str, user: &str| match user {
            "known" => Ok(Some(vec!["a".to_owned()])),
            _ => Ok(None),
        };
        let executor = Executor {
            operation: &operation,
            variables: &variables,
            segments_of: &segments_of,
        };
        executor.query().map_err(|error| match error {
            QueryError::Invalid { message, .. } => message,
            QueryError::UnknownUser(unknown) => format!("unknown {}", unknown.value),
            QueryError::Storage(message) => message,
        })
    }

    #[test]
    fn answers_requested_fields_in_requested_order() {
        let data = run(
            r#"{ c: customer(vuid: "known") { audiences(subset: ["b", "a"]) { edges { node { state name __typename } } } } }"#,
            json!({}),
        )
        .unwrap();
        assert_eq!(
            data,
            json!({"c": {"audiences": {"edges": [
                {"node": {"state": "not_qualified", "name": "b", "__typename": "Audience"}},
                {"node": {"state": "qualified", "name": "a", "__typename": "Audience"}},
            ]}}})
        );
    }

    #[test]
    fn without_subset_lists_qualified_segments() {
        let data = run(
            "query($u: String = \"known\") { customer(fs_user_id: $u) { audiences { edges { node { name } } } } }",
            json!({}),
        )
        .unwrap();
        assert_eq!(
            data,
            json!({"customer": {"audiences": {"edges": [{"node": {"name": "a"}}]}}})
        );
    }

    #[test]
    fn reports_what_it_cannot_answer() {
        let cases = [
            (
                "{ customer(fs_user_id: \"x\") { audiences { edges { node { name } } } } }",
                "unknown x",
            ),
            (
                "{ customers { a } }",
                "field 'customers' in type 'Query' is undefined",
            ),
            (
                "{ customer(email: \"x\") { a } }",
                "unknown argument 'email' on field 'customer'",
            ),
            (
                "{ customer { audiences { edges { node { name } } } } }",
                "field 'customer' needs an 'fs_user_id' or 'vuid' argument",
            ),
            (
                "{ customer(fs_user_id: 1) { a } }",
                "argument 'fs_user_id' of field 'customer' must be a string",
            ),
            (
                "{ customer(fs_user_id: $u) { a } }",
                "variable '$u' is not defined",
            ),
            (
                "{ customer(fs_user_id: \"known\") }",
                "field 'customer' of type 'Customer' needs a selection of subfields",
            ),
            (
                "{ customer(fs_user_id: \"known\") { audiences(subset: [1]) { edges { node { name } } } } }",
                "'subset' must be a list of strings",
            ),
            (
                "{ customer(fs_user_id: \"known\") { audiences { edges { node { name { x } } } } } }",
                "field 'name' is a scalar and takes no selection",
            ),
        ];
        for (query, expected) in cases {
            assert_eq!(run(query, json!({})), Err(expected.to_owned()), "{query}");
        }
    }

    #[test]
    fn parses_request_bodies() {
        let request = GraphqlRequest::parse(br#"{"query":"{ a }","variables":null}"#).unwrap();
        assert_eq!(request.query, "{ a }");
        assert!(request.variables.is_empty());
        assert!(GraphqlRequest::parse(b"[]").is_err());
        assert!(GraphqlRequest::parse(br#"{"variables":{}}"#).is_err());
        assert!(GraphqlRequest::parse(br#"{"query":"{ a }","variables":[]}"#).is_err());
    }
}
