//! Async client for the Cisco Secure Endpoint (formerly AMP for Endpoints) v1 REST API.
//!
//! The client is reusable on its own: it knows nothing of sebridge. It covers version, event
//! types, events (with every filter and `next`-link paging), computers, groups and isolation,
//! over the three regional clouds or a custom base URL, with HTTP Basic authentication.
//! The vendor's error envelope becomes [`Error`]; rate-limit headers (both spellings) become
//! [`RateLimit`]. Every [`Event`] keeps the vendor's JSON exactly as received.

mod client;
mod credentials;
mod envelope;
mod error;
mod event;
#[cfg(test)]
mod event_props;
mod model;
mod ratelimit;
mod region;
mod streams;

pub use client::{
    default_http_client, format_api_date, ApiResponse, Client, ClientBuilder, ComputersQuery,
    EventPager, EventsPage, EventsQuery, RejectedEvent, MAX_PAGE_SIZE,
};
pub use credentials::Credentials;
pub use envelope::{ApiError, Links, Metadata, Results};
pub use error::Error;
pub use event::{Event, EventError, EventType, Severity, DERIVED_ID_BIT};
pub use model::{Computer, Group, Isolation, IsolationStatus, IsolationSummary, Version};
pub use ratelimit::RateLimit;
pub use region::{Region, UnknownRegion};
pub use secrecy::{ExposeSecret, SecretString};
pub use streams::{AmqpCredentials, EventStream, EventStreamUpdate, NewEventStream};
