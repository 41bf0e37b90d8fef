//! Was the stream deleted in Secure Endpoint?
//!
//! Deleting a stream (through the API, the console, or `sebridge streams delete` on another
//! machine) removes its queue and its broker user. A consumer sees its subscription cancelled
//! by the broker, or its connection closed ("user ... is deleted"), then every reconnection
//! refused at login (or, where the login survives, a missing queue). A wrong password or a
//! broker that is still starting look the same from the broker's side, so the consumer asks
//! the tenant's API ([`secure_endpoint::Client::find_event_stream`]) and only its "not found"
//! is a verdict. When the API cannot tell (unreachable, 5xx, 401, 429), nothing is concluded:
//! the failure is retried as before and the API asked again on a later one, at most once per
//! backoff period, so a broker in trouble never turns into a stream of API calls.

use super::consumer::{Observed, StreamConsumer};
use crate::status::TenantState;
use secure_endpoint::Client;
use std::time::{Duration, Instant};
use tracing::error;

/// What a stream's consumer may ask of its tenant once its stream fails.
#[derive(Clone, Debug)]
pub struct TenantLink {
    /// The tenant's Secure Endpoint API: does the stream still exist?
    pub api: Client,
    /// The poll sources that read the tenant too (its events keep coming from them once the
    /// stream is gone).
    pub poll_sources: Vec<String>,
}

/// What the API says about a stream.
enum Answer {
    Gone,
    Exists,
    /// It could not tell (why); nothing is concluded.
    Unknown(secure_endpoint::Error),
}

/// What asking the API about a failing stream gave.
pub(super) enum Checked {
    /// Not asked (no API, not that kind of failure, or asked less than a backoff ago).
    NotAsked,
    /// The stream is gone: reported, the consumer stops.
    Deleted,
    /// The API says it exists, or cannot tell: said after the failure's reason.
    Note(String),
}

async fn ask(api: &Client, stream_id: u64) -> Answer {
    match api.find_event_stream(stream_id).await {
        Ok(None) => Answer::Gone,
        Ok(Some(_)) => Answer::Exists,
        Err(e) => Answer::Unknown(e),
    }
}

/// The shortest pause between two questions, whatever the backoff (it restarts low after a
/// connection that lived).
const MIN_PERIOD: Duration = Duration::from_millis(500);

/// At most one question per backoff period.
#[derive(Debug, Default)]
pub(super) struct Throttle {
    not_before: Option<Instant>,
}

impl Throttle {
    pub(super) fn due(&self, now: Instant) -> bool {
        self.not_before.is_none_or(|t| now >= t)
    }

    /// A question was asked at `now`; the next waits `period` (the backoff about to be slept,
    /// or longer when the API asked for it with a 429).
    pub(super) fn asked(&mut self, now: Instant, period: Duration) {
        self.not_before = Some(now + period.max(MIN_PERIOD));
    }
}

impl StreamConsumer {
    /// After a failure a deleted stream causes (refused login, missing queue, subscription
    /// cancelled, user deleted), asks the tenant's API whether the stream still exists, at
    /// most once per backoff period. Only the API's "not found" is a verdict: then it is
    /// reported once and the consumer stops, keeping the stored credentials.
    pub(super) async fn check_deleted(
        &self,
        deletion_hint: Option<&'static str>,
        delay: Duration,
        asked: &mut Throttle,
    ) -> Checked {
        let (Some(link), Some(cause)) = (&self.link, deletion_hint) else {
            return Checked::NotAsked;
        };
        let now = Instant::now();
        if !asked.due(now) {
            return Checked::NotAsked;
        }
        let answer = ask(&link.api, self.stream.stream_id).await;
        let id = self.stream.stream_id;
        match answer {
            Answer::Gone => {
                self.set_deleted(cause, &link.poll_sources).await;
                Checked::Deleted
            }
            Answer::Exists => {
                asked.asked(now, delay);
                Checked::Note(format!(
                    " (Secure Endpoint still lists event stream {} (id {id}))",
                    self.stream.name
                ))
            }
            Answer::Unknown(e) => {
                asked.asked(now, delay.max(e.retry_after().unwrap_or_default()));
                Checked::Note(format!(
                    " (cannot ask Secure Endpoint whether event stream {id} still exists: {e})"
                ))
            }
        }
    }

    /// The stream is gone: one ERROR line, status `failed` with the same words, metrics.
    async fn set_deleted(&self, cause: &str, poll_sources: &[String]) {
        let msg = deleted_message(
            self.tenant(),
            &self.stream.name,
            self.stream.stream_id,
            cause,
            poll_sources,
        );
        error!(tenant = %self.tenant(), stream = %self.stream.name, stream_id = self.stream.stream_id, "{msg}");
        let labels = [
            ("tenant", self.tenant().to_string()),
            ("stream", self.stream.name.clone()),
        ];
        metrics::gauge!("sebridge_stream_deleted", &labels).set(1.0);
        self.set_connected(
            false,
            "the stream was deleted in Secure Endpoint; not retried".into(),
        );
        self.observe(Observed::Disconnected {
            reason: msg.clone(),
        })
        .await;
        self.status.update_tenant(self.tenant(), &self.label, |s| {
            s.state = TenantState::Failed;
            s.errors += 1;
            s.last_error = Some(msg);
        });
    }
}

/// Why a subscription ended (`None`: the broker ended it without an error), and whether
/// that is what the broker does to a deleted stream's consumer: its queue deleted cancels the
/// subscription; its user deleted closes the connection (`CONNECTION_FORCED - user '...' is
/// deleted`, as RabbitMQ words it). Other forced closes (an operator, a shutdown) are not.
pub(super) fn lost_by(e: Option<&lapin::Error>) -> (String, Option<&'static str>) {
    use lapin::protocol::{AMQPErrorKind, AMQPHardError};
    let Some(e) = e else {
        return (
            "the broker ended the subscription".into(),
            Some("the broker cancelled its subscription"),
        );
    };
    let user_deleted = match e.kind() {
        lapin::ErrorKind::ProtocolError(p) => {
            *p.kind() == AMQPErrorKind::Hard(AMQPHardError::CONNECTIONFORCED)
                && p.get_message().as_str().contains("deleted")
        }
        _ => false,
    };
    (
        format!("consumer error: {e}"),
        user_deleted.then_some("the broker closed its connection: its user was deleted"),
    )
}

/// The verdict, in one line: what happened, where the tenant's events come from now, and
/// what to do. `cause` is what the broker did, in a few words.
fn deleted_message(
    tenant: &str,
    name: &str,
    id: u64,
    cause: &str,
    poll_sources: &[String],
) -> String {
    let fallback = match poll_sources {
        [] => format!(
            "no poll source reads tenant {tenant}: its new events are not read until a stream \
             is created or a poll source added"
        ),
        [one] => format!("its events still come from poll source `{one}`"),
        many => {
            let names: Vec<String> = many.iter().map(|s| format!("`{s}`")).collect();
            format!(
                "its events still come from poll sources {}",
                names.join(", ")
            )
        }
    };
    format!(
        "event stream {name} (id {id}) of tenant {tenant} was deleted in Secure Endpoint; its \
         stored credentials no longer work ({cause}), so it is not retried; {fallback}. The \
         credentials are kept: remove them with `sebridge streams delete --tenant {tenant} \
         --name {name}`, then create a new stream with `sebridge streams create --tenant \
         {tenant} --name {name}`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_question_per_period() {
        let mut t = Throttle::default();
        let now = Instant::now();
        assert!(t.due(now));
        t.asked(now, Duration::from_secs(2));
        assert!(!t.due(now + Duration::from_secs(1)));
        assert!(t.due(now + Duration::from_secs(2)));
        // Never more often than MIN_PERIOD, however short the backoff.
        t.asked(now, Duration::ZERO);
        assert!(!t.due(now + MIN_PERIOD / 2));
    }

    #[test]
    fn the_verdict_says_where_the_events_come_from_and_what_to_do() {
        let poll = deleted_message("acme", "siem", 6, "login refused", &["poll".into()]);
        assert!(poll.starts_with(
            "event stream siem (id 6) of tenant acme was deleted in Secure Endpoint; its \
             stored credentials no longer work (login refused)"
        ));
        assert!(
            poll.contains("its events still come from poll source `poll`"),
            "{poll}"
        );
        assert!(poll.contains("`sebridge streams delete --tenant acme --name siem`"));
        assert!(poll.contains("`sebridge streams create --tenant acme --name siem`"));
        let none = deleted_message("acme", "siem", 6, "login refused", &[]);
        assert!(
            none.contains("no poll source reads tenant acme: its new events are not read until"),
            "{none}"
        );
        let two = deleted_message("acme", "siem", 6, "x", &["a".into(), "b".into()]);
        assert!(two.contains("poll sources `a`, `b`"), "{two}");
    }
}
