//! The syslog sink and its encoders:
//! - [`sink`]: the transports (UDP, TCP, TLS), framing and delivery;
//! - [`message`]: PRI and the RFC 5424 / RFC 3164 header around the body;
//! - [`cef`], [`leef`]: the CEF and LEEF 2.0 bodies (JSON comes from `util::render`).

pub mod cef;
pub mod config;
#[cfg(test)]
mod escape_props;
pub mod leef;
pub mod message;
pub mod sink;

pub use message::Formatter;
pub use sink::SyslogSink;
