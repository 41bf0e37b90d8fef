//! The Microsoft Sentinel sink and its encoder:
//! - [`sink`]: Azure Monitor Logs Ingestion API calls under the 1 MB limit, gzipped, with an
//!   Entra ID client-credentials token; only failed calls are resent;
//! - [`encoder`]: Secure Endpoint event → a row of Microsoft's connector stream or of its
//!   table `CiscoSecureEndpointEventsV2_CL` (the sources are in its docs);
//! - [`config`]: `[sinks.<name>] type = "sentinel"`.

pub mod config;
pub mod encoder;
pub mod sink;
#[cfg(test)]
mod tests;

pub use sink::SentinelSink;
