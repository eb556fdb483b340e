//! The error body every refused request gets: `{"error":{"code":"...","message":"..."}}`.

use serde::{Deserialize, Serialize};
use vitrine_core::Diagnostic;

/// The body of every error answer: `{"error":{"code":"...","message":"..."}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong: a stable code to match on, and a message saying how to fix the request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// One of the scheduler's error codes (its `ErrorCode` schema lists them all).
    #[cfg_attr(feature = "openapi", schema(schema_with = error_code_reference))]
    pub code: String,
    /// For a person: what is wrong and what to do.
    pub message: String,
    /// Only with `invalid_playlist`: every problem found, each with file, line and column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Vec<Diagnostic>>,
}

/// The `code` field refers to the `ErrorCode` schema, which the scheduler builds from its table
/// of codes (the codes and their meanings are the scheduler's to list).
#[cfg(feature = "openapi")]
fn error_code_reference() -> utoipa::openapi::Ref {
    utoipa::openapi::Ref::from_schema_name("ErrorCode")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics_are_left_out_unless_there_are_some() {
        let body = ErrorBody {
            error: ErrorDetail {
                code: "forbidden".to_owned(),
                message: "this needs the admin token".to_owned(),
                diagnostics: None,
            },
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"error":{"code":"forbidden","message":"this needs the admin token"}}"#
        );
        let read: ErrorBody = serde_json::from_str(
            r#"{"error":{"code":"invalid_playlist","message":"m","diagnostics":[
                {"severity":"error","file":"a.yaml","line":3,"column":5,"message":"bad"}]}}"#,
        )
        .unwrap();
        assert_eq!(read.error.diagnostics.map(|all| all.len()), Some(1));
    }
}
