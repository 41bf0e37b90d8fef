//! HTTP plumbing shared by the API client crates (`secure-endpoint`, `servicenow`, `xdr`).
//!
//! Each client owns its API: URLs, authentication, its error enum and its envelope. What they
//! have in common lives here, once:
//! - [`HttpSettings`] / [`http_client`]: the reqwest client they build (rustls, timeouts,
//!   a user agent, idle pool);
//! - [`send`] / [`read_body`]: the response body read with a size bound ([`MAX_BODY_BYTES`]),
//!   failures as [`ReadError`];
//! - [`error_chain`], [`snippet`], [`retry_after`], [`rate_limit_wait`]: the error helpers;
//! - [`TokenCache`]: a bearer token cached, renewed before it expires and after a 401, one
//!   renewal at a time.
//!
//! It is a leaf: it depends on no other crate of the workspace.

mod body;
mod client;
mod errors;
mod token;

pub use body::{read_body, send, ReadError, Response, MAX_BODY_BYTES};
pub use client::{http_client, HttpSettings, DEFAULT_TIMEOUT};
pub use errors::{
    error_chain, rate_limit_wait, retry_after, retry_after_seconds, snippet, DEFAULT_RETRY_AFTER,
};
pub use token::{Token, TokenCache};
