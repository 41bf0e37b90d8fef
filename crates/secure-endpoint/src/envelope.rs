//! The response envelope: `{"version", "metadata": {"links", "results"}, "data", "errors"}`.

use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
pub(crate) struct Envelope<'a> {
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(borrow)]
    pub data: Option<&'a RawValue>,
    #[serde(default)]
    pub errors: Vec<ApiError>,
}

/// `metadata` of a response.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub links: Links,
    #[serde(default)]
    pub results: Option<Results>,
}

/// `metadata.links`. `next` is absent on the last page (not null): that is the end.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Links {
    #[serde(default, rename = "self")]
    pub self_: Option<String>,
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub prev: Option<String>,
}

/// `metadata.results`. Some lists only carry `total`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Results {
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub current_item_count: Option<u64>,
    #[serde(default)]
    pub index: Option<u64>,
    #[serde(default)]
    pub items_per_page: Option<u64>,
}

/// One member of `errors`.
#[derive(Clone, Debug, Deserialize)]
pub struct ApiError {
    #[serde(default)]
    pub error_code: Option<u64>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub details: Vec<String>,
}

/// Human text of an error body: the envelope's details, or a bounded snippet of the body.
pub(crate) fn error_details(body: &[u8]) -> String {
    if let Ok(env) = serde_json::from_slice::<Envelope<'_>>(body) {
        let parts: Vec<String> = env
            .errors
            .iter()
            .map(|e| {
                let mut s = e.description.clone().unwrap_or_default();
                if !e.details.is_empty() {
                    if !s.is_empty() {
                        s.push_str(": ");
                    }
                    s.push_str(&e.details.join("; "));
                }
                s
            })
            .filter(|s| !s.is_empty())
            .collect();
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    snippet(body)
}

pub(crate) use http_core::snippet;
