//! The JSON shape of each kind of generated event, following the captured payloads.

use std::sync::Arc;

use rand::RngExt;

use crate::event_types::name_of;
use crate::util::{push_event_date, push_json_str};
use crate::world::{random_uuid, World};

use super::catalogue::{
    Kind, MITRE_TACTIC, MITRE_TECHNIQUE, QUARANTINE_ERRORS, QUARANTINE_FAILURE, THREAT_QUARANTINED,
};
use super::generator::{pick_threat, Generator};
use super::store::{EventText, StoredEvent};

impl Generator {
    pub(super) fn generate_one(
        &mut self,
        world: &World,
        ts: i64,
        ns: u32,
        budget: usize,
        out: &mut Vec<StoredEvent>,
    ) -> usize {
        let (type_id, kind) = self.pick_kind();
        let severity = self.severity(kind);
        // Real detections cluster: an outbreak hits a few hosts again and again, while
        // routine events (scans, updates, policy) come from everywhere.
        let n = world.computers.len();
        let hot = (n / 6).max(2).min(n);
        let ci = if severity.is_some() && self.rng.random_bool(0.85) {
            self.rng.random_range(0..hot)
        } else {
            self.rng.random_range(0..n)
        };
        let c = &world.computers[ci];
        let group = world.groups[c.group].guid.clone();
        let ev = |id: Option<u64>,
                  type_id: u32,
                  head: String,
                  with_user: bool,
                  tail: Arc<str>,
                  det: Option<Arc<str>>,
                  app: Option<Arc<str>>,
                  groups: bool| StoredEvent {
            ts,
            ns,
            seq: 0,
            id,
            type_id: Some(type_id),
            connector: Some(c.guid.clone()),
            groups: if groups {
                vec![group.clone()].into_boxed_slice()
            } else {
                Box::new([])
            },
            det_sha: det,
            app_sha: app,
            text: EventText::Gen {
                head: head.into_boxed_str(),
                computer: if with_user {
                    c.frag_user.clone()
                } else {
                    c.frag_plain.clone()
                },
                tail,
            },
        };
        let head = |id: Option<u64>,
                    type_id: u32,
                    detection: Option<&str>,
                    detection_id: Option<u64>,
                    groups: bool,
                    severity: Option<&str>,
                    extra: &str| {
            let mut h = String::with_capacity(360);
            h.push('{');
            if let Some(id) = id {
                h.push_str("\"id\":");
                h.push_str(&id.to_string());
                h.push(',');
            }
            h.push_str("\"timestamp\":");
            h.push_str(&ts.to_string());
            h.push_str(",\"timestamp_nanoseconds\":");
            h.push_str(&ns.to_string());
            h.push_str(",\"date\":\"");
            push_event_date(&mut h, ts);
            h.push_str("\",\"event_type\":");
            push_json_str(&mut h, name_of(type_id));
            h.push_str(",\"event_type_id\":");
            h.push_str(&type_id.to_string());
            if let Some(d) = detection {
                h.push_str(",\"detection\":");
                push_json_str(&mut h, d);
            }
            if let Some(d) = detection_id {
                h.push_str(",\"detection_id\":\"");
                h.push_str(&d.to_string());
                h.push('"');
            }
            h.push_str(",\"connector_guid\":");
            push_json_str(&mut h, &c.guid);
            if groups {
                h.push_str(",\"group_guids\":[");
                push_json_str(&mut h, &group);
                h.push(']');
            }
            if let Some(s) = severity {
                h.push_str(",\"severity\":\"");
                h.push_str(s);
                h.push('"');
            }
            h.push_str(extra);
            h.push_str(",\"computer\":");
            h
        };

        match kind {
            Kind::Plain => {
                let id = self.alloc_ids(1);
                let h = head(Some(id), type_id, None, None, true, None, "");
                out.push(ev(
                    Some(id),
                    type_id,
                    h,
                    false,
                    self.close.clone(),
                    None,
                    None,
                    true,
                ));
                1
            }
            Kind::ScanStarted | Kind::ScanCompleted => {
                let id = self.alloc_ids(1);
                let tails = if kind == Kind::ScanStarted {
                    &self.scan_started_tails
                } else {
                    &self.scan_completed_tails
                };
                let tail = tails[self.rng.random_range(0..tails.len())].clone();
                let h = head(Some(id), type_id, None, None, true, None, "");
                out.push(ev(Some(id), type_id, h, false, tail, None, None, true));
                1
            }
            Kind::FileFetch => {
                let id = self.alloc_ids(1);
                let t = &self.threats[pick_threat(&mut self.rng, self.threats.len())];
                let h = head(Some(id), type_id, None, None, true, None, "");
                out.push(ev(
                    Some(id),
                    type_id,
                    h,
                    false,
                    t.tail_full.clone(),
                    Some(t.sha256.clone()),
                    None,
                    true,
                ));
                1
            }
            Kind::ThreatDetected => {
                let det_id = self.alloc_ids(3);
                let t = &self.threats[pick_threat(&mut self.rng, self.threats.len())];
                let h = head(
                    Some(det_id + 1),
                    type_id,
                    Some(t.detection),
                    Some(det_id),
                    true,
                    severity,
                    "",
                );
                out.push(ev(
                    Some(det_id + 1),
                    type_id,
                    h,
                    true,
                    t.tail_parent.clone(),
                    Some(t.sha256.clone()),
                    Some(t.parent_sha256.clone()),
                    true,
                ));
                if budget < 2 {
                    return 1;
                }
                let (follow_type, extra) = if self.rng.random_bool(0.85) {
                    (THREAT_QUARANTINED, String::new())
                } else {
                    let (code, desc) =
                        QUARANTINE_ERRORS[self.rng.random_range(0..QUARANTINE_ERRORS.len())];
                    (
                        QUARANTINE_FAILURE,
                        format!(",\"error\":{{\"error_code\":{code},\"description\":\"{desc}\"}}"),
                    )
                };
                let h2 = head(
                    Some(det_id + 2),
                    follow_type,
                    None,
                    Some(det_id),
                    true,
                    severity,
                    &extra,
                );
                out.push(ev(
                    Some(det_id + 2),
                    follow_type,
                    h2,
                    false,
                    t.tail_min.clone(),
                    Some(t.sha256.clone()),
                    None,
                    true,
                ));
                2
            }
            Kind::Retrospective | Kind::MaliciousActivity => {
                let det_id = self.alloc_ids(2);
                let t = &self.threats[pick_threat(&mut self.rng, self.threats.len())];
                let (tail, user, app) = if kind == Kind::Retrospective {
                    (t.tail_full.clone(), false, None)
                } else {
                    (t.tail_parent.clone(), true, Some(t.parent_sha256.clone()))
                };
                let h = head(
                    Some(det_id + 1),
                    type_id,
                    Some(t.detection),
                    Some(det_id),
                    true,
                    severity,
                    "",
                );
                out.push(ev(
                    Some(det_id + 1),
                    type_id,
                    h,
                    user,
                    tail,
                    Some(t.sha256.clone()),
                    app,
                    true,
                ));
                1
            }
            Kind::ExecutedMalware | Kind::Ransomware | Kind::ExploitPrevention => {
                let id = self.alloc_ids(1);
                let t = &self.threats[pick_threat(&mut self.rng, self.threats.len())];
                let tail = if kind == Kind::ExploitPrevention {
                    t.tail_exploit.clone()
                } else {
                    t.tail_parent.clone()
                };
                let app = (kind != Kind::ExploitPrevention).then(|| t.parent_sha256.clone());
                let h = head(Some(id), type_id, None, None, true, severity, "");
                out.push(ev(
                    Some(id),
                    type_id,
                    h,
                    true,
                    tail,
                    Some(t.sha256.clone()),
                    app,
                    true,
                ));
                1
            }
            Kind::CloudIoc => {
                let id = self.alloc_ids(1);
                let ioc = &self.iocs[self.rng.random_range(0..self.iocs.len())];
                let start = ts - self.rng.random_range(0..3i64);
                let mut extra = format!(",\"start_timestamp\":{start},\"start_date\":\"");
                push_event_date(&mut extra, start);
                extra.push('"');
                let h = head(Some(id), type_id, None, None, true, severity, &extra);
                out.push(ev(
                    Some(id),
                    type_id,
                    h,
                    false,
                    ioc.tail.clone(),
                    ioc.file_sha256.clone(),
                    Some(ioc.parent_sha256.clone()),
                    true,
                ));
                1
            }
            Kind::ThreatHunting => {
                // Real events of this type carry neither `id` nor `group_guids`.
                let tail = self.threat_hunting_tail(&c.hostname, ts);
                let h = head(None, type_id, None, None, false, severity, "");
                out.push(ev(None, type_id, h, false, tail.into(), None, None, false));
                1
            }
        }
    }

    fn threat_hunting_tail(&mut self, hostname: &str, ts: i64) -> String {
        let title = [
            "Valak Variant",
            "Cobalt Strike Beacon",
            "Credential Dumping via LSASS",
        ][self.rng.random_range(0..3usize)];
        let mut t = String::from(",\"threat_hunting\":{\"incident_report_guid\":");
        push_json_str(&mut t, &random_uuid(&mut self.rng));
        t.push_str(",\"incident_hunt_guid\":");
        push_json_str(&mut t, &random_uuid(&mut self.rng));
        t.push_str(",\"incident_title\":");
        push_json_str(&mut t, title);
        t.push_str(",\"incident_summary\":");
        push_json_str(
            &mut t,
            &format!(
                "The host {hostname} shows activity consistent with {title}. Based on the event details listed and the techniques used, we recommend the host in question be investigated further."
            ),
        );
        t.push_str(",\"incident_remediation\":");
        push_json_str(
            &mut t,
            "We recommend the following:\r\n\r\n- Isolation of the affected hosts from the network\r\n- Perform forensic investigation\r\n- If possible, reimage the affected system.",
        );
        t.push_str(&format!(
            ",\"incident_id\":{},\"tactics\":[{tac}],\"techniques\":[{tech}],\"severity\":\"critical\",\"incident_start_time\":{},\"incident_end_time\":{}}},\"tactics\":[{tac}],\"techniques\":[{tech}]}}",
            self.rng.random_range(100..5000u32),
            ts - 3600,
            ts - 60,
            tac = MITRE_TACTIC,
            tech = MITRE_TECHNIQUE,
        ));
        t
    }
}
