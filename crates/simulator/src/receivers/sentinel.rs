//! Microsoft Sentinel's ingestion path on loopback: a Microsoft Entra ID token endpoint and
//! the Azure Monitor Logs Ingestion API in front of one data collection rule (DCR).
//!
//! Written from Microsoft's public documentation (the Logs Ingestion API overview and its
//! REST reference, api-version 2023-01-01; the Azure Monitor service limits; the Microsoft
//! identity platform's client-credentials flow; the Azure SDKs' troubleshooting guides),
//! not from sebridge's sink:
//!
//! - `POST /{tenant}/oauth2/v2.0/token`, form data `grant_type=client_credentials`,
//!   `client_id`, `client_secret`, `scope` (the resource's `/.default`): `200
//!   {"token_type":"Bearer","expires_in":…,"ext_expires_in":…,"access_token":…}`; errors in
//!   Entra's shape `{"error":"invalid_client","error_description":"AADSTS7000215: …",
//!   "error_codes":[7000215],…}` (401 for a wrong or missing secret, 400 for an unknown
//!   tenant or application, a scope without `/.default`, another grant type).
//! - `POST /dataCollectionRules/{dcrImmutableId}/streams/{stream}?api-version=2023-01-01`,
//!   `Authorization: Bearer <token>` (audience `https://monitor.azure.com`), a JSON array of
//!   objects, optionally `Content-Encoding: gzip`. `204` with no body when accepted; errors
//!   as `{"error":{"code":…,"message":…}}`: 401 (no, unknown or expired token, wrong
//!   audience), 403 `OperationFailed` (the principal lacks Monitoring Metrics Publisher on
//!   the DCR), 404 (unknown DCR), 400 (api-version, stream not declared, body not a JSON
//!   array of objects, bad gzip), 413 `ContentLengthLimitExceeded` past 1 MB (1,048,576
//!   bytes, compressed *or* uncompressed: the limit is on both), 429/503 with `Retry-After`.
//!   Columns a row has that its stream does not declare are dropped, as a DCR does.
//!
//! The DCR declares the two streams a Cisco Secure Endpoint bridge can target (their
//! columns are those of Microsoft's own connector in the Azure/Azure-Sentinel repository,
//! `Solutions/Cisco Secure Endpoint/Data Connectors/CiscoSecureEndpointLogs_ccp/`):
//! [`CONNECTOR_STREAM`], the input stream of the codeless connector's DCR (the vendor's
//! field names), and [`TABLE_STREAM`], a stream with the columns of its table
//! `CiscoSecureEndpointEventsV2_CL` (for a DCR whose transform is `source`).
//!
//! Documented facts this receiver cannot know and so assumes: the status of an unknown
//! stream (400 `InvalidStream` here), of an expired token (401 `InvalidAuthenticationToken`),
//! and the exact wording of messages.

// Field and accessor names mirror the protocol's (documented above); one-line docs each
// would only repeat them.
#![allow(missing_docs)]

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{with_body, Server};
use crate::util::{form_fields, is_form};
use crate::SimError;

/// The api-version of the Logs Ingestion API's current REST reference.
pub const API_VERSION: &str = "2023-01-01";
/// The scope a client asks Entra ID for: the resource `https://monitor.azure.com` and
/// `/.default` (the double slash is Microsoft's documented spelling).
pub const SCOPE: &str = "https://monitor.azure.com//.default";
/// The audience of the tokens the ingestion endpoint accepts.
pub const AUDIENCE: &str = "https://monitor.azure.com";
/// "Maximum size of API call: 1 MB, both compressed and uncompressed data" (the service
/// limits); the SDKs' tests show 413 with "Maximum allowed content length: 1048576 bytes".
pub const MAX_CALL_BYTES: usize = 1_048_576;
/// The input stream of the codeless connector's DCR (`CiscoSecureEndpointLogs_DCR.json`,
/// `streamDeclarations`), which its transform turns into the table's columns.
pub const CONNECTOR_STREAM: &str = "Custom-CiscoSecureEndpointEvents";
/// A stream declared with the table's own columns (the Logs Ingestion convention
/// `Custom-<table>`), for a DCR whose transform is `source`.
pub const TABLE_STREAM: &str = "Custom-CiscoSecureEndpointEventsV2_CL";
/// The table the connector writes.
pub const TABLE: &str = "CiscoSecureEndpointEventsV2_CL";

/// The columns of [`CONNECTOR_STREAM`] (name, type), in the DCR's order.
#[rustfmt::skip]
pub const CONNECTOR_STREAM_COLUMNS: &[(&str, &str)] = &[
    ("id", "real"), ("timestamp", "real"), ("timestamp_nanoseconds", "real"),
    ("date", "datetime"), ("event_type", "string"), ("event_type_id", "real"),
    ("detection", "string"), ("detection_id", "string"), ("connector_guid", "string"),
    ("group_guids", "string"), ("severity", "string"), ("tactics", "string"),
    ("techniques", "string"), ("hostname", "string"), ("vulnerabilities", "string"),
    ("start_timestamp", "real"), ("start_date", "datetime"), ("error", "dynamic"),
    ("computer", "dynamic"), ("file", "dynamic"), ("scan", "dynamic"), ("bp_data", "dynamic"),
    ("policy", "dynamic"), ("product_update", "dynamic"), ("isolation", "dynamic"),
    ("forensic_snapshot", "dynamic"), ("device_control", "dynamic"),
    ("endpoint_ioc_scan", "dynamic"), ("orbital", "dynamic"), ("command_line", "dynamic"),
    ("cloud_ioc", "dynamic"), ("threat_hunting", "dynamic"), ("network_info", "dynamic"),
];

/// The columns of the table `CiscoSecureEndpointEventsV2_CL` (name, type), in the order of
/// `CiscoSecureEndpointEventsLogs_Table.json`.
#[rustfmt::skip]
pub const TABLE_COLUMNS: &[(&str, &str)] = &[
    ("Id", "real"), ("Timestamp", "real"), ("TimestampNanoseconds", "real"),
    ("TimeGenerated", "datetime"), ("Date", "datetime"), ("EventType", "string"),
    ("EventTypeId", "real"), ("Detection", "string"), ("DetectionId", "string"),
    ("ConnectorGuid", "string"), ("GroupGuids", "string"), ("Severity", "string"),
    ("Tactics", "string"), ("Techniques", "string"), ("Hostname", "string"),
    ("Vulnerabilities", "string"), ("StartTimestamp", "real"), ("StartDate", "datetime"),
    ("ErrorErrorCode", "real"), ("ErrorDescription", "string"),
    ("ComputerConnectorGuid", "string"), ("ComputerHostname", "string"),
    ("ComputerExternalIp", "string"), ("ComputerUser", "string"), ("ComputerActive", "boolean"),
    ("ComputerNetworkAddresses", "string"), ("ComputerLinksComputer", "string"),
    ("ComputerLinksTrajectory", "string"), ("ComputerLinksGroup", "string"),
    ("FileDisposition", "string"), ("FileFileName", "string"), ("FileFilePath", "string"),
    ("FileIdentitySha256", "string"), ("FileIdentitySha1", "string"),
    ("FileIdentityMd5", "string"), ("FileParentProcessId", "real"),
    ("FileParentDisposition", "string"), ("FileParentFileName", "string"),
    ("FileParentIdentitySha256", "string"), ("FileParentIdentitySha1", "string"),
    ("FileParentIdentityMd5", "string"), ("FileAttackDetailsApplication", "string"),
    ("FileAttackDetailsAttackedModule", "string"), ("FileAttackDetailsBaseAddress", "string"),
    ("FileAttackDetailsSuspiciousFiles", "string"), ("FileAttackDetailsIndicators", "string"),
    ("FileArchivedFileDisposition", "string"), ("FileArchivedFileIdentitySha256", "string"),
    ("ScanDescription", "string"), ("ScanClean", "boolean"), ("ScanScannedFiles", "real"),
    ("ScanScannedProcesses", "real"), ("ScanScannedPaths", "real"),
    ("ScanMaliciousDetections", "real"), ("BpDataPackageManagerPendingVersion", "real"),
    ("BpDataPackageManagerSerialNumber", "real"), ("BpDataSts", "real"),
    ("BpDataPackageName", "string"), ("BpDataPackageManagerCurrentVersion", "real"),
    ("BpDataNormalizedSeverityId", "real"), ("BpDataAudit", "boolean"),
    ("BpDataDetection", "string"), ("BpDataEndTs", "real"), ("BpDataEngine", "string"),
    ("BpDataId", "string"), ("BpDataName", "string"), ("BpDataRemediated", "boolean"),
    ("BpDataSeverity", "string"), ("BpDataSilent", "boolean"), ("BpDataStartTs", "real"),
    ("BpDataTactics", "string"), ("BpDataTechniques", "string"), ("BpDataType", "string"),
    ("BpDataObservablesFile", "string"), ("BpDataDetailsActions", "string"),
    ("BpDataDetailsEngEpoch", "real"), ("BpDataDetailsEngVer", "string"),
    ("BpDataDetailsSchema", "string"), ("BpDataDetailsSchemaEpoch", "real"),
    ("BpDataDetailsSigId", "real"), ("BpDataDetailsSigRev", "real"),
    ("BpDataDetailsSigSetVersion", "real"), ("BpDataDetailsMatchedActivityEvents", "string"),
    ("BpDataDetailsMatchedActivityLimited", "boolean"),
    ("BpDataDetailsMatchedActivityMatched", "real"), ("BpDataDeviceAgentList", "string"),
    ("BpDataDeviceHostname", "string"), ("BpDataDeviceNetworkInterfaces", "string"),
    ("BpDataDeviceOsMachineUuid", "string"), ("BpDataDeviceTypeId", "real"),
    ("BpDataDeviceHwInfoBiosManufacturer", "string"), ("BpDataDeviceHwInfoBiosVer", "string"),
    ("BpDataDeviceHwInfoCpuBits", "real"), ("BpDataDeviceHwInfoCpuType", "string"),
    ("BpDataDeviceHwInfoSerialNumber", "string"), ("BpDataDeviceHwInfoUuid", "string"),
    ("BpDataDeviceHwInfoVendorName", "string"), ("BpDataDeviceOsBuild", "string"),
    ("BpDataDeviceOsEdition", "string"), ("BpDataDeviceOsName", "string"),
    ("BpDataDeviceOsTypeId", "real"), ("BpDataDeviceOsVersion", "string"),
    ("BpDataNormalizedName", "string"), ("BpDataNormalizedObservablesAll", "string"),
    ("BpDataNormalizedObservablesFileName", "string"),
    ("BpDataNormalizedObservablesFilePath", "string"), ("BpDataErrorCode", "real"),
    ("BpDataDemo", "boolean"), ("BpDataPackageUri", "string"), ("BpDataErrorSource", "string"),
    ("BpDataEcx", "string"), ("PolicySerialNumber", "real"),
    ("ProductUpdateCurrentVersion", "string"), ("ProductUpdateUpdateVersion", "string"),
    ("IsolationDuration", "real"), ("IsolationUser", "string"), ("ForensicSnapshotUrl", "string"),
    ("DeviceControlDataPackageManagerSerialNumber", "string"),
    ("DeviceControlDataPackageName", "string"), ("DeviceControlDataSts", "real"),
    ("DeviceControlDataNormalizedSeverityId", "real"), ("EndpointIocScanClean", "boolean"),
    ("EndpointIocScanDescription", "string"), ("EndpointIocScanScannedObjects", "real"),
    ("EndpointIocScanMatchedObjects", "real"), ("EndpointIocScanMaliciousDetections", "real"),
    ("OrbitalVersion", "string"), ("OrbitalOldVersion", "string"),
    ("CommandLineArguments", "string"), ("CloudIocDescription", "string"),
    ("CloudIocShortDescription", "string"), ("ThreatHuntingIncidentReportGuid", "string"),
    ("ThreatHuntingIncidentHuntGuid", "string"), ("ThreatHuntingIncidentTitle", "string"),
    ("ThreatHuntingIncidentSummary", "string"), ("ThreatHuntingIncidentRemediation", "string"),
    ("ThreatHuntingIncidentStartTime", "real"), ("ThreatHuntingIncidentEndTime", "real"),
    ("ThreatHuntingTactics", "string"), ("ThreatHuntingTechniques", "string"),
    ("ThreatHuntingSeverity", "string"), ("NetworkInfoDirtyUrl", "string"),
    ("NetworkInfoRemoteIp", "string"), ("NetworkInfoRemotePort", "real"),
    ("NetworkInfoLocalIp", "string"), ("NetworkInfoLocalPort", "real"),
    ("NetworkInfoNfmDirection", "string"), ("NetworkInfoNfmProtocol", "string"),
    ("NetworkInfoParentProcessId", "real"), ("NetworkInfoParentDisposition", "string"),
    ("NetworkInfoParentFileName", "string"), ("NetworkInfoParentIdentitySha256", "string"),
    ("NetworkInfoParentIdentitySha1", "string"), ("NetworkInfoParentIdentityMd5", "string"),
];

/// How to start a receiver.
#[derive(Debug, Clone)]
pub struct SentinelConfig {
    pub listen: SocketAddr,
    /// The Entra ID tenant (directory) id in the token URL.
    pub tenant_id: String,
    /// The application (client) id of the app registration.
    pub client_id: String,
    /// Its client secret (changeable at run time: [`SentinelReceiver::set_client_secret`]).
    pub client_secret: String,
    /// The DCR's immutable id.
    pub dcr_immutable_id: String,
    /// `expires_in` of the tokens issued; an expired token is refused with 401.
    pub token_lifetime: Duration,
    /// Keep every row for inspection (off for the demo and benchmarks: only counts).
    pub keep_rows: bool,
}

impl Default for SentinelConfig {
    fn default() -> Self {
        SentinelConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tenant_id: "5f1c7a3e-2b4d-4e6f-8a9b-0c1d2e3f4a5b".into(),
            client_id: "0c2e4a6b-8d0f-4a1b-9c3d-5e7f9a1b3c5d".into(),
            client_secret: "sim~Sentinel.ClientSecret-0123456789abcdef".into(),
            dcr_immutable_id: "dcr-5e1f0c2a9b8d4e7fa1b2c3d4e5f60718".into(),
            // Entra issues tokens for 60 to 90 minutes; `expires_in` is usually 3599.
            token_lifetime: Duration::from_secs(3599),
            keep_rows: true,
        }
    }
}

/// Counters, as served by `GET /_receiver/stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SentinelStats {
    /// Token requests, and how many were answered with a token.
    pub token_requests: u64,
    pub tokens_issued: u64,
    /// Token requests refused (wrong secret, unknown tenant, ...).
    pub token_refusals: u64,
    /// Ingestion calls, and how many were gzipped.
    pub requests: u64,
    pub gzip_requests: u64,
    /// Calls answered 204.
    pub accepted_requests: u64,
    /// Rows stored (accepted calls only).
    pub rows: u64,
    /// Calls refused for their authentication or authorization (401, 403).
    pub rejected_requests: u64,
    /// Calls answered with an injected status (429, 5xx).
    pub injected_failures: u64,
    /// Calls refused as larger than 1 MB (413).
    pub too_large: u64,
    /// Calls refused as malformed or misaddressed (400, 404).
    pub bad_requests: u64,
    /// Row columns the stream does not declare, dropped (as a DCR does).
    pub dropped_columns: u64,
    /// The largest accepted call, uncompressed.
    pub max_call_bytes: u64,
}

/// One ingestion call as it arrived.
#[derive(Debug, Clone)]
pub struct IngestCall {
    pub at: Instant,
    pub status: u16,
    pub stream: String,
    pub rows: usize,
    /// Body bytes as sent and after gunzipping.
    pub wire_bytes: usize,
    pub bytes: usize,
    pub gzip: bool,
}

#[derive(Default)]
struct Faults {
    /// For the next calls: `None` answered normally, else (status, Retry-After seconds).
    next: VecDeque<Option<(u16, Option<u64>)>>,
    /// Every call answered 403: the principal has no role on the DCR.
    forbidden: bool,
}

struct Token {
    expires: Instant,
    audience: String,
}

#[derive(Default)]
struct Inner {
    stats: SentinelStats,
    client_secret: String,
    tokens: HashMap<String, Token>,
    rows: HashMap<String, Vec<Map<String, Value>>>,
    unknown_columns: BTreeSet<String>,
    calls: Vec<IngestCall>,
    faults: Faults,
    /// The size limit of a call (compressed and uncompressed), lowered by tests.
    call_limit: usize,
}

struct Shared {
    config: SentinelConfig,
    inner: Mutex<Inner>,
}

/// A running receiver.
pub struct SentinelReceiver {
    shared: Arc<Shared>,
    server: Server,
}

/// Starts a receiver.
pub async fn start(config: SentinelConfig) -> Result<SentinelReceiver, SimError> {
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            client_secret: config.client_secret.clone(),
            call_limit: MAX_CALL_BYTES,
            ..Inner::default()
        }),
        config: config.clone(),
    });
    let router = Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/dataCollectionRules/{dcr}/streams/{stream}", post(ingest))
        .route("/_receiver/stats", get(stats))
        .with_state(shared.clone());
    let server = Server::start(config.listen, router).await?;
    Ok(SentinelReceiver { shared, server })
}

impl SentinelReceiver {
    /// `http://127.0.0.1:PORT`: the ingestion endpoint (a DCE's or the DCR's own).
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The token endpoint, as `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.url(),
            self.shared.config.tenant_id
        )
    }

    pub fn config(&self) -> &SentinelConfig {
        &self.shared.config
    }

    pub fn stats(&self) -> SentinelStats {
        self.shared.inner.lock().stats.clone()
    }

    /// The rows stored for `stream`, in arrival order (when `keep_rows`), without the
    /// columns the stream does not declare.
    pub fn rows(&self, stream: &str) -> Vec<Map<String, Value>> {
        let i = self.shared.inner.lock();
        i.rows.get(stream).cloned().unwrap_or_default()
    }

    /// Names of columns rows had that their stream does not declare (dropped).
    pub fn unknown_columns(&self) -> BTreeSet<String> {
        self.shared.inner.lock().unknown_columns.clone()
    }

    /// Every ingestion call so far, in arrival order.
    pub fn calls(&self) -> Vec<IngestCall> {
        self.shared.inner.lock().calls.clone()
    }

    /// Answers the next `n` ingestion calls with `status` (429 `TooManyRequests`, 503
    /// `ServiceUnavailable`, any other 5xx), with `Retry-After: <secs>` when given.
    pub fn fail_next(&self, n: usize, status: u16, retry_after_secs: Option<u64>) {
        self.fail_after(0, n, status, retry_after_secs);
    }

    /// Lets the next `skip` calls through (after those already queued), then answers `n`
    /// with `status` as [`Self::fail_next`] does.
    pub fn fail_after(&self, skip: usize, n: usize, status: u16, retry_after_secs: Option<u64>) {
        let mut i = self.shared.inner.lock();
        i.faults.next.extend(std::iter::repeat_n(None, skip));
        i.faults
            .next
            .extend(std::iter::repeat_n(Some((status, retry_after_secs)), n));
    }

    /// Lowers (or restores) the size limit of a call, as a stricter service would have.
    pub fn set_call_limit(&self, bytes: usize) {
        self.shared.inner.lock().call_limit = bytes;
    }

    /// Answers every call 403 while on, as when the app has no Monitoring Metrics
    /// Publisher role on the DCR.
    pub fn set_forbidden(&self, forbidden: bool) {
        self.shared.inner.lock().faults.forbidden = forbidden;
    }

    /// Rotates the app's client secret: tokens already issued stay valid until they expire.
    pub fn set_client_secret(&self, secret: &str) {
        self.shared.inner.lock().client_secret = secret.to_string();
    }

    /// The access tokens issued and not revoked (tests search logs for them).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.shared.inner.lock().tokens.keys().cloned().collect()
    }

    /// Revokes every token issued so far: calls with them get 401.
    pub fn revoke_tokens(&self) {
        self.shared.inner.lock().tokens.clear();
    }

    pub async fn shutdown(mut self) {
        self.server.stop().await;
    }
}

fn entra_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    let now = time::OffsetDateTime::now_utc();
    let stamp = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let trace = uuid::Uuid::new_v4();
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {} Timestamp: {stamp}",
            uuid::Uuid::new_v4()
        ),
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace.to_string(),
        "correlation_id": uuid::Uuid::new_v4().to_string(),
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    (status, Json(body)).into_response()
}

async fn token(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let refused = |r: Response| {
        shared.inner.lock().stats.token_refusals += 1;
        r
    };
    shared.inner.lock().stats.token_requests += 1;
    let config = &shared.config;
    if tenant != config.tenant_id {
        return refused(entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
        ));
    }
    if !is_form(&headers) {
        return refused(entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        ));
    }
    let form = form_fields(&body);
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if get("grant_type") != "client_credentials" {
        return refused(entra_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        ));
    }
    if get("client_id") != config.client_id {
        return refused(entra_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{}' was not found in the directory '{tenant}'.",
                get("client_id")
            ),
        ));
    }
    let secret = shared.inner.lock().client_secret.clone();
    if get("client_secret").is_empty() {
        return refused(entra_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000216,
            "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
        ));
    }
    if get("client_secret") != secret {
        return refused(entra_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.", config.client_id),
        ));
    }
    let scope = get("scope");
    let Some(resource) = scope.strip_suffix("/.default") else {
        return refused(entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            &format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
        ));
    };
    // `https://monitor.azure.com//.default` names the resource `https://monitor.azure.com/`.
    let audience = resource.trim_end_matches('/').to_string();
    let access = format!(
        "eyJ0eXAiOiJKV1QifQ.{}.{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let lifetime = config.token_lifetime;
    let mut i = shared.inner.lock();
    i.tokens.insert(
        access.clone(),
        Token {
            expires: Instant::now() + lifetime,
            audience,
        },
    );
    i.stats.tokens_issued += 1;
    Json(json!({
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "ext_expires_in": lifetime.as_secs(),
        "access_token": access,
    }))
    .into_response()
}

fn api_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// What one ingestion call was answered, and what is recorded of it.
struct Answer {
    response: Response,
    rows: usize,
    bytes: usize,
}

impl From<Response> for Answer {
    fn from(response: Response) -> Answer {
        Answer {
            response,
            rows: 0,
            bytes: 0,
        }
    }
}

async fn ingest(
    State(shared): State<Arc<Shared>>,
    Path((dcr, stream)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let answer = answer(&shared, &dcr, &stream, &q, &headers, &body);
    let status = answer.response.status().as_u16();
    let mut i = shared.inner.lock();
    i.stats.requests += 1;
    if gzip {
        i.stats.gzip_requests += 1;
    }
    match status {
        204 => i.stats.accepted_requests += 1,
        401 | 403 => i.stats.rejected_requests += 1,
        413 => i.stats.too_large += 1,
        400 | 404 => i.stats.bad_requests += 1,
        _ => {}
    }
    i.calls.push(IngestCall {
        at,
        status,
        stream,
        rows: answer.rows,
        wire_bytes: body.len(),
        bytes: answer.bytes,
        gzip,
    });
    answer.response
}

fn answer(
    shared: &Shared,
    dcr: &str,
    stream: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Answer {
    if let Some(r) = injected(shared) {
        return r.into();
    }
    if let Some(r) = check_token(shared, headers) {
        return r.into();
    }
    match q.get("api-version").map(String::as_str) {
        Some(API_VERSION) | Some("2021-11-01-preview") => {}
        v => {
            let m = format!(
                "The api-version '{}' is not supported; supported versions: {API_VERSION}, 2021-11-01-preview.",
                v.unwrap_or("")
            );
            return api_error(StatusCode::BAD_REQUEST, "InvalidApiVersionParameter", &m).into();
        }
    }
    if dcr != shared.config.dcr_immutable_id {
        let m = format!("Data collection rule with immutable Id '{dcr}' not found.");
        return api_error(StatusCode::NOT_FOUND, "NotFound", &m).into();
    }
    if shared.inner.lock().faults.forbidden {
        let m = format!("The authentication token provided does not have access to ingest data for the data collection rule with immutable Id '{dcr}'.");
        return api_error(StatusCode::FORBIDDEN, "OperationFailed", &m).into();
    }
    let Some(columns) = declared(stream) else {
        let m = format!("Stream '{stream}' is not declared in the data collection rule '{dcr}'.");
        return api_error(StatusCode::BAD_REQUEST, "InvalidStream", &m).into();
    };
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        let m = "The Content-Type must be application/json.";
        return api_error(StatusCode::BAD_REQUEST, "InvalidContentType", m).into();
    }
    let limit = shared.inner.lock().call_limit;
    if body.len() > limit {
        return too_large(limit, body.len()).into();
    }
    // The refusal is built outside the closure: a `Response` is large to carry back.
    let parsed = with_body(headers, body, |data| {
        if data.len() > limit {
            return Err(Err(data.len()));
        }
        match serde_json::from_slice::<Vec<Map<String, Value>>>(data) {
            Ok(rows) => Ok((rows, data.len())),
            Err(e) => Err(Ok(e.to_string())),
        }
    });
    let (rows, bytes) = match parsed {
        Ok(Ok(p)) => p,
        Ok(Err(Err(len))) => return too_large(limit, len).into(),
        Ok(Err(Ok(e))) => {
            let m = format!("The request body is not a JSON array of objects: {e}");
            return api_error(StatusCode::BAD_REQUEST, "InvalidPayload", &m).into();
        }
        Err(e) => return api_error(StatusCode::BAD_REQUEST, "InvalidContentEncoding", &e).into(),
    };
    let n = rows.len();
    let mut i = shared.inner.lock();
    for mut row in rows {
        let before = row.len();
        if row.keys().any(|k| !is_declared(columns, k)) {
            for k in row.keys().filter(|k| !is_declared(columns, k)) {
                if i.unknown_columns.len() < MAX_UNKNOWN_NAMES {
                    i.unknown_columns.insert(k.clone());
                }
            }
            row.retain(|k, _| is_declared(columns, k));
            i.stats.dropped_columns += (before - row.len()) as u64;
        }
        if shared.config.keep_rows {
            i.rows.entry(stream.to_string()).or_default().push(row);
        }
    }
    i.stats.rows += n as u64;
    i.stats.max_call_bytes = i.stats.max_call_bytes.max(bytes as u64);
    Answer {
        response: StatusCode::NO_CONTENT.into_response(),
        rows: n,
        bytes,
    }
}

fn is_declared(columns: &[(&str, &str)], key: &str) -> bool {
    columns.iter().any(|(c, _)| *c == key)
}

/// Unknown column names kept at most (a misbehaving client cannot grow the set forever).
const MAX_UNKNOWN_NAMES: usize = 256;

fn too_large(limit: usize, len: usize) -> Response {
    let mb = if limit == MAX_CALL_BYTES {
        " (1 MB)"
    } else {
        ""
    };
    let m = format!(
        "Maximum allowed content length: {limit} bytes{mb}. Provided content length: {len} bytes."
    );
    api_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "ContentLengthLimitExceeded",
        &m,
    )
}

fn declared(stream: &str) -> Option<&'static [(&'static str, &'static str)]> {
    match stream {
        CONNECTOR_STREAM => Some(CONNECTOR_STREAM_COLUMNS),
        TABLE_STREAM => Some(TABLE_COLUMNS),
        _ => None,
    }
}

/// An injected fault for this call, if one is queued.
fn injected(shared: &Shared) -> Option<Response> {
    let mut i = shared.inner.lock();
    let (status, retry_after) = i.faults.next.pop_front()??;
    i.stats.injected_failures += 1;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let (code, message) = match status {
        StatusCode::TOO_MANY_REQUESTS => (
            "TooManyRequests",
            "The request rate for the data collection rule exceeds the limit; retry after the duration in the Retry-After header.",
        ),
        StatusCode::SERVICE_UNAVAILABLE => ("ServiceUnavailable", "The service is unavailable."),
        _ => ("InternalServerError", "An internal error occurred."),
    };
    let mut r = api_error(status, code, message);
    if let Some(secs) = retry_after {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    Some(r)
}

/// `None` when the bearer token is one we issued, unexpired, for the monitor audience.
fn check_token(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Some(api_error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        ));
    };
    let Some(token) = value.strip_prefix("Bearer ") else {
        return Some(api_error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is not a bearer token.",
        ));
    };
    let i = shared.inner.lock();
    match i.tokens.get(token.trim()) {
        None => Some(api_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        )),
        Some(t) if t.expires <= Instant::now() => Some(api_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "The access token has expired.",
        )),
        Some(t) if t.audience != AUDIENCE => Some(api_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationTokenAudience",
            &format!(
                "The access token has been obtained for the wrong audience '{}'. It should be '{AUDIENCE}'.",
                t.audience
            ),
        )),
        Some(_) => None,
    }
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.inner.lock().stats.clone()).into_response()
}
