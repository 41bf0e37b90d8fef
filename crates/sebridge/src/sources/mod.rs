//! Sources: where events come from. Each appends to the journal and only then advances its
//! own progress (a REST cursor in the same transaction; an AMQP ack after the commit).

pub mod config;
pub mod poll;
pub mod stream;

/// A tenant as a source sees it: its name and an API client bound to its credentials.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub name: String,
    pub client: secure_endpoint::Client,
}
