//! Event Streams management: `POST/GET /v1/event_streams`, `GET/PATCH/DELETE
//! /v1/event_streams/{id}`, and the AMQP credentials they hand out.
//!
//! Shapes follow the reference (§7.1): creation answers 201 with
//! `data: {id, name, amqp_credentials: {user_name, password, queue_name, host, port, proto}}`;
//! the password is only ever returned there. Lists and single reads carry `event_types` and
//! `group_guids` (plural, unlike the creation parameters `event_type` and `group_guid`).
//! `port` is a string (`"443"`) and `proto` is `"https"` in real answers.

use crate::{ApiResponse, Client, Error};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The AMQP credentials of an event stream.
///
/// `Debug` never shows the password. The password is `None` on every answer but the
/// creation one ("This is the only time you will see the password").
#[derive(Clone, Deserialize)]
pub struct AmqpCredentials {
    pub user_name: String,
    #[serde(default)]
    pub password: Option<SecretString>,
    pub queue_name: String,
    pub host: String,
    /// As sent by the API: a string (`"443"`). Some answers could send a number; both are read.
    #[serde(deserialize_with = "string_or_number")]
    pub port: String,
    /// `"https"` in real answers (meaning AMQP over TLS); `"amqps"`/`"amqp"` are understood too.
    pub proto: String,
}

impl fmt::Debug for AmqpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpCredentials")
            .field("user_name", &self.user_name)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("queue_name", &self.queue_name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("proto", &self.proto)
            .finish()
    }
}

impl AmqpCredentials {
    /// The port as a number.
    pub fn port_number(&self) -> Result<u16, String> {
        self.port
            .trim()
            .parse()
            .map_err(|_| format!("AMQP port {:?} is not a port number", self.port))
    }

    /// Whether the connection must use TLS: `https` (what the API sends), `amqps`, or port
    /// 443/5671 with an unknown proto. Plain only for `amqp`/`http`.
    pub fn uses_tls(&self) -> bool {
        match self.proto.trim().to_ascii_lowercase().as_str() {
            "amqp" | "http" => false,
            "https" | "amqps" => true,
            // Unknown: the safe choice is TLS.
            _ => true,
        }
    }

    /// The password, when this answer carried one.
    pub fn password(&self) -> Option<&str> {
        self.password.as_ref().map(|p| p.expose_secret())
    }
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        S(String),
        N(u64),
    }
    Ok(match Repr::deserialize(d)? {
        Repr::S(s) => s,
        Repr::N(n) => n.to_string(),
    })
}

/// An event stream as the API describes it.
#[derive(Clone, Debug, Deserialize)]
pub struct EventStream {
    pub id: u64,
    pub name: String,
    pub amqp_credentials: AmqpCredentials,
    /// Event type ids the stream carries; empty = all (absent on the creation answer).
    #[serde(default)]
    pub event_types: Vec<u64>,
    /// Group GUIDs the stream carries; empty = all.
    #[serde(default)]
    pub group_guids: Vec<String>,
}

/// Body of `POST /v1/event_streams`. Empty lists mean "all event types" / "all groups".
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct NewEventStream {
    pub name: String,
    #[serde(rename = "event_type", skip_serializing_if = "Vec::is_empty")]
    pub event_types: Vec<u64>,
    #[serde(rename = "group_guid", skip_serializing_if = "Vec::is_empty")]
    pub group_guids: Vec<String>,
}

/// Body of `PATCH /v1/event_streams/{id}`: only the fields given change.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct EventStreamUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "event_type", skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<u64>>,
    #[serde(rename = "group_guid", skip_serializing_if = "Option::is_none")]
    pub group_guids: Option<Vec<String>>,
}

/// The Event Streams calls.
impl Client {
    /// `POST /v1/event_streams` (answers 201). The returned credentials carry the password:
    /// the only time the API shows it.
    pub async fn create_event_stream(
        &self,
        stream: &NewEventStream,
    ) -> Result<ApiResponse<EventStream>, Error> {
        self.call(Method::POST, self.url("/v1/event_streams"), Some(stream))
            .await
    }

    /// `GET /v1/event_streams` (passwords are not included).
    pub async fn event_streams(&self) -> Result<ApiResponse<Vec<EventStream>>, Error> {
        self.get(self.url("/v1/event_streams")).await
    }

    /// `GET /v1/event_streams/{id}`. An unknown id is [`Error::NotFound`] (the API answers it
    /// as a 400 "Event stream not found").
    pub async fn event_stream(&self, id: u64) -> Result<ApiResponse<EventStream>, Error> {
        self.get(self.url(&format!("/v1/event_streams/{id}"))).await
    }

    /// Whether event stream `id` still exists, as the API says: `Ok(Some(stream))` when it
    /// does, `Ok(None)` only when the API says it does not, and an error when it cannot tell
    /// (unreachable, 5xx, 401, 429...: retry later).
    ///
    /// "Does not" takes two answers: `GET /v1/event_streams/{id}` says "not found" (a 404, or
    /// the API's 400 "Event stream not found"), and `GET /v1/event_streams` does not list the
    /// id. So a proxy answering 404 for every path (a wrong base URL) is an error here, not a
    /// deleted stream. A single-stream route that refuses the request otherwise (400, 405)
    /// leaves the decision to the list.
    pub async fn find_event_stream(&self, id: u64) -> Result<Option<EventStream>, Error> {
        match self.event_stream(id).await {
            Ok(found) => return Ok(Some(found.data)),
            Err(
                Error::NotFound { .. }
                | Error::BadRequest { .. }
                | Error::Status { status: 405, .. },
            ) => {}
            Err(e) => return Err(e),
        }
        let listed = self.event_streams().await?.data;
        Ok(listed.into_iter().find(|s| s.id == id))
    }

    /// `PATCH /v1/event_streams/{id}`: changes the name and/or filters.
    pub async fn update_event_stream(
        &self,
        id: u64,
        update: &EventStreamUpdate,
    ) -> Result<ApiResponse<EventStream>, Error> {
        self.call(
            Method::PATCH,
            self.url(&format!("/v1/event_streams/{id}")),
            Some(update),
        )
        .await
    }

    /// `DELETE /v1/event_streams/{id}`. The answer's body shape is not documented, so only
    /// the status is used.
    pub async fn delete_event_stream(&self, id: u64) -> Result<(), Error> {
        self.send(
            Method::DELETE,
            self.url(&format!("/v1/event_streams/{id}")),
            None::<&()>,
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_password() {
        let c: AmqpCredentials = serde_json::from_str(
            r#"{"user_name":"6-92a4","password":"0123456789abcdef0123456789abcdef01234567",
                "queue_name":"event_stream_6","host":"h","port":"443","proto":"https"}"#,
        )
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        assert!(shown.contains("REDACTED"));
        assert_eq!(c.port_number(), Ok(443));
        assert!(c.uses_tls());
    }

    #[test]
    fn creation_body_uses_the_singular_parameter_names() {
        let body = serde_json::to_value(NewEventStream {
            name: "siem".into(),
            event_types: vec![1090519054],
            group_guids: vec!["g".into()],
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"name":"siem","event_type":[1090519054],"group_guid":["g"]})
        );
        let all = serde_json::to_value(NewEventStream {
            name: "all".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(all, serde_json::json!({"name":"all"}));
    }
}
