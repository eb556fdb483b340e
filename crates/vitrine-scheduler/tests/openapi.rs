//! The OpenAPI document: committed as `schema/openapi.json` and current (`UPDATE_SCHEMA=1 cargo
//! test -p vitrine-scheduler --test openapi` rewrites it), served at `/v1/openapi.json`, a valid
//! OpenAPI 3.1 document whose references all resolve, with every route of the router and no other,
//! and every error code the source uses documented.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use axum::http::{Method, StatusCode};
use serde_json::Value;

mod common;

use common::Harness;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn generated() -> Value {
    serde_json::from_str(&vitrine_scheduler::openapi::to_json()).expect("the document is JSON")
}

#[test]
fn committed_openapi_document_is_current() {
    let path = repository().join("schema/openapi.json");
    let generated = vitrine_scheduler::openapi::to_json();
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &generated).expect("write schema/openapi.json");
        } else {
            panic!(
                "schema/openapi.json is out of date with the handlers' #[utoipa::path] attributes; \
                 run `UPDATE_SCHEMA=1 cargo test -p vitrine-scheduler --test openapi` and commit it"
            );
        }
    }
    // Built twice, the document is the same text: the committed file cannot flap.
    assert_eq!(vitrine_scheduler::openapi::to_json(), generated);
}

#[tokio::test]
async fn the_document_is_served_without_a_token() {
    let harness = Harness::new();
    let reply = harness
        .call(Method::GET, "/v1/openapi.json", None, None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), generated());
}

#[test]
fn the_document_is_valid_openapi_3_1_and_its_references_resolve() {
    let text = vitrine_scheduler::openapi::to_json();
    let spec = oas3::from_json(&text).expect("an OpenAPI 3.1 document");
    let version = spec.validate_version().expect("a supported version");
    assert_eq!((version.major, version.minor), (3, 1));

    let mut operations = 0;
    for (path, method, operation) in spec.operations() {
        operations += 1;
        let name = format!("{method} {path}");
        assert!(
            !operation.responses(&spec).is_empty(),
            "{name} documents no response"
        );
        let parameters = operation
            .parameters(&spec)
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        operation
            .request_body(&spec)
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        // Every `{param}` of the path is declared as a path parameter, and nothing more.
        let templated: BTreeSet<String> = path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .map(str::to_owned)
            .collect();
        let declared: BTreeSet<String> = parameters
            .iter()
            .filter(|parameter| parameter.location == oas3::spec::ParameterIn::Path)
            .map(|parameter| parameter.name.clone())
            .collect();
        assert_eq!(templated, declared, "{name}: path parameters");
    }
    assert!(operations > 40, "{operations} operations");

    // Every reference, wherever it is, names a component that exists.
    let document: Value = serde_json::from_str(&text).expect("JSON");
    let mut references = Vec::new();
    collect_references(&document, &mut references);
    assert!(!references.is_empty());
    for reference in references {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("not a local reference: {reference}"));
        assert!(
            document.pointer(pointer).is_some(),
            "{reference} resolves to nothing"
        );
    }

    // Operation ids are what client generators name methods by: each is unique.
    let mut ids = BTreeSet::new();
    for (path, method, operation) in each_operation(&document) {
        let id = operation["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
    }

    // Every security requirement names a declared scheme.
    let schemes = document["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    for (path, method, operation) in each_operation(&document) {
        for requirement in operation["security"].as_array().into_iter().flatten() {
            for scheme in requirement.as_object().expect("requirement").keys() {
                assert!(
                    schemes.contains_key(scheme),
                    "{method} {path}: unknown scheme {scheme}"
                );
            }
        }
        assert!(
            operation.get("security").is_some(),
            "{method} {path} says nothing of authentication"
        );
    }
}

fn collect_references(value: &Value, references: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                references.push(reference.clone());
            }
            map.values()
                .for_each(|value| collect_references(value, references));
        }
        Value::Array(values) => values
            .iter()
            .for_each(|value| collect_references(value, references)),
        _ => {}
    }
}

fn each_operation(document: &Value) -> Vec<(String, String, Value)> {
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            if ["get", "put", "post", "delete", "head", "patch", "options"]
                .contains(&method.as_str())
            {
                operations.push((path.clone(), method.clone(), operation.clone()));
            }
        }
    }
    operations
}

#[test]
fn every_route_of_the_router_is_documented_and_nothing_else() {
    let harness = Harness::new();
    let mut routed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for route in vitrine_scheduler::routes(&harness.state) {
        for method in route.methods {
            let fresh = routed
                .entry(route.path.to_owned())
                .or_default()
                .insert(method.to_ascii_lowercase());
            assert!(fresh, "{method} {} listed twice", route.path);
        }
    }
    let mut documented: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, method, _) in each_operation(&generated()) {
        documented.entry(path).or_default().insert(method);
    }
    for (path, methods) in &routed {
        for method in methods {
            assert!(
                documented
                    .get(path)
                    .is_some_and(|methods| methods.contains(method)),
                "{} {path} is routed but not in the OpenAPI document; add #[utoipa::path] to its \
                 handler and list it in openapi.rs",
                method.to_uppercase()
            );
        }
    }
    for (path, methods) in &documented {
        for method in methods {
            assert!(
                routed
                    .get(path)
                    .is_some_and(|methods| methods.contains(method)),
                "{} {path} is in the OpenAPI document but not routed",
                method.to_uppercase()
            );
        }
    }
    assert_eq!(routed, documented);
}

/// The error codes a source file makes: `ApiError::new(StatusCode::X, "code", ...)` and the
/// `not_found("code", ...)` helpers, with the status where written.
fn codes_in_source() -> BTreeSet<(String, Option<String>)> {
    let mut codes = BTreeSet::new();
    let mut folders = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            let compact: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            for (marker, with_status) in [
                ("ApiError::new( StatusCode::", true),
                ("ApiError::new(StatusCode::", true),
                ("not_found(\"", false),
            ] {
                for (index, _) in compact.match_indices(marker) {
                    let rest = &compact[index + marker.len()..];
                    if with_status {
                        let Some((status, rest)) = rest.split_once(',') else {
                            continue;
                        };
                        let Some(code) = rest
                            .trim_start()
                            .strip_prefix('"')
                            .and_then(|rest| rest.split_once('"'))
                            .map(|(code, _)| code)
                        else {
                            continue;
                        };
                        codes.insert((code.to_owned(), Some(status.trim().to_owned())));
                    } else if let Some((code, _)) = rest.split_once('"') {
                        codes.insert((code.to_owned(), None));
                    }
                }
            }
        }
    }
    codes
}

#[test]
fn every_error_code_is_documented_with_its_status() {
    let table: BTreeMap<&str, u16> = vitrine_scheduler::error::ERROR_CODES
        .iter()
        .map(|(code, status, _)| (*code, *status))
        .collect();
    assert_eq!(
        table.len(),
        vitrine_scheduler::error::ERROR_CODES.len(),
        "a code listed twice"
    );
    let used = codes_in_source();
    assert!(used.len() > 30, "the scan finds the codes: {used:?}");
    for (code, status) in &used {
        let documented = table.get(code.as_str()).unwrap_or_else(|| {
            panic!(
                "error code `{code}` is not in ERROR_CODES (src/error.rs); add it with its meaning"
            )
        });
        if let Some(written) = status {
            // `NOT_FOUND` for 404: the constant's name is the reason phrase in capitals.
            let reason = StatusCode::from_u16(*documented)
                .expect("status")
                .canonical_reason()
                .expect("a standard status")
                .to_uppercase()
                .replace(' ', "_");
            assert_eq!(
                *written, reason,
                "`{code}` is made with StatusCode::{written} but documented as {documented}"
            );
        }
    }

    // The document's ErrorCode enum is exactly the table.
    let document = generated();
    let listed: BTreeSet<&str> = document["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode enum")
        .iter()
        .map(|code| code.as_str().expect("code"))
        .collect();
    assert_eq!(listed, table.keys().copied().collect());

    // Each route's error answers name codes that come with that status, and every code but the
    // router's own (unknown path, wrong method) is named by some route.
    let mut named = BTreeSet::new();
    for (path, method, operation) in each_operation(&document) {
        for (status, response) in operation["responses"].as_object().expect("responses") {
            let Some(list) = response["description"]
                .as_str()
                .and_then(|text| text.strip_prefix("Error codes: "))
            else {
                continue;
            };
            for code in list.split(", ") {
                let code = code.trim_matches('`');
                assert_eq!(
                    table.get(code).map(u16::to_string).as_deref(),
                    Some(status.as_str()),
                    "{method} {path}: `{code}` under {status}"
                );
                named.insert(code.to_owned());
            }
        }
    }
    for code in table.keys() {
        if !["not_found", "method_not_allowed"].contains(code) {
            assert!(named.contains(*code), "no route documents `{code}`");
        }
    }
}
