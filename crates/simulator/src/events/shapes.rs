//! The JSON shape of each kind of generated event, following the captured payloads: the
//! envelope (head, shared `computer` object) and the kind's tail.

use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::RngExt;

use crate::event_types::name_of;
use crate::util::{push_event_date, push_json_str};
use crate::world::{random_uuid, Computer, World};

use super::catalogue::{MITRE_TACTIC, MITRE_TECHNIQUE, QUARANTINE_ERRORS};
use super::catalogue_more::DFC_DETECTIONS;
use super::generator::{pick_threat, Generator};
use super::mix::{kind_of, Kind, ScanShape, QUARANTINE_FAILURE, THREAT_QUARANTINED};
use super::store::{EventText, StoredEvent};
use super::tails;

/// Where and when an event happens.
struct Env<'w> {
    c: &'w Computer,
    group: &'w Arc<str>,
    ts: i64,
    ns: u32,
}

/// One event besides its time and computer.
struct Spec<'a> {
    id: Option<u64>,
    type_id: u32,
    detection: Option<&'a str>,
    detection_id: Option<u64>,
    severity: Option<&'a str>,
    /// Top-level fields between `severity` and `computer` (`,"key":...`).
    extra: &'a str,
    /// Whether the `computer` object has `user`.
    user: bool,
    /// `group_guids` (absent on threat hunting events).
    groups: bool,
    /// What follows the `computer` object, closing the event.
    tail: Arc<str>,
    /// `file.identity.sha256`, and the parent's (file's or flow's), for the store's filters.
    det: Option<Arc<str>>,
    app: Option<Arc<str>>,
}

impl<'a> Spec<'a> {
    fn new(id: u64, type_id: u32, severity: Option<&'a str>, tail: Arc<str>) -> Spec<'a> {
        Spec {
            id: Some(id),
            type_id,
            detection: None,
            detection_id: None,
            severity,
            extra: "",
            user: false,
            groups: true,
            tail,
            det: None,
            app: None,
        }
    }

    fn file(mut self, det: Option<Arc<str>>, app: Option<Arc<str>>) -> Spec<'a> {
        self.det = det;
        self.app = app;
        self
    }

    fn detection(mut self, detection: Option<&'a str>, detection_id: u64) -> Spec<'a> {
        self.detection = detection;
        self.detection_id = Some(detection_id);
        self
    }

    fn with_user(mut self) -> Spec<'a> {
        self.user = true;
        self
    }
}

impl Env<'_> {
    fn push(&self, s: Spec<'_>, out: &mut Vec<StoredEvent>) {
        let (ts, ns, c) = (self.ts, self.ns, self.c);
        let mut h = String::with_capacity(360);
        h.push('{');
        if let Some(id) = s.id {
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
        push_json_str(&mut h, name_of(s.type_id));
        h.push_str(",\"event_type_id\":");
        h.push_str(&s.type_id.to_string());
        if let Some(d) = s.detection {
            h.push_str(",\"detection\":");
            push_json_str(&mut h, d);
        }
        if let Some(d) = s.detection_id {
            h.push_str(",\"detection_id\":\"");
            h.push_str(&d.to_string());
            h.push('"');
        }
        h.push_str(",\"connector_guid\":");
        push_json_str(&mut h, &c.guid);
        if s.groups {
            h.push_str(",\"group_guids\":[");
            push_json_str(&mut h, self.group);
            h.push(']');
        }
        if let Some(sev) = s.severity {
            h.push_str(",\"severity\":\"");
            h.push_str(sev);
            h.push('"');
        }
        h.push_str(s.extra);
        h.push_str(",\"computer\":");
        out.push(StoredEvent {
            ts,
            ns,
            seq: 0,
            id: s.id,
            type_id: Some(s.type_id),
            connector: Some(c.guid.clone()),
            groups: if s.groups {
                vec![self.group.clone()].into_boxed_slice()
            } else {
                Box::new([])
            },
            det_sha: s.det,
            app_sha: s.app,
            text: EventText::Gen {
                head: h.into_boxed_str(),
                computer: if s.user {
                    c.frag_user.clone()
                } else {
                    c.frag_plain.clone()
                },
                tail: s.tail,
            },
        });
    }
}

/// `,"error":{...}` of a Quarantine Failure.
fn quarantine_error(rng: &mut SmallRng) -> String {
    let (code, desc) = QUARANTINE_ERRORS[rng.random_range(0..QUARANTINE_ERRORS.len())];
    format!(",\"error\":{{\"error_code\":{code},\"description\":\"{desc}\"}}")
}

impl Generator {
    /// Draws a type from the mix and generates it (with its twin when it has one and
    /// `budget` allows). Returns the number of events pushed.
    pub(super) fn generate_one(
        &mut self,
        world: &World,
        ts: i64,
        ns: u32,
        budget: usize,
        out: &mut Vec<StoredEvent>,
    ) -> usize {
        let (type_id, kind, sev) = self.pick_kind();
        let severity = self.severity(sev);
        let ci = self.pick_computer(world, severity.is_some());
        self.emit(world, ci, type_id, kind, severity, ts, ns, budget, out)
    }

    /// Generates one event of `type_id` at `(ts, ns)`, on computer `ci` of the world (else
    /// one drawn as the mix draws it), with no twin. False if the reference table has no
    /// such type, the world has no computers or `ci` is out of range.
    pub(crate) fn generate_type(
        &mut self,
        world: &World,
        type_id: u32,
        ci: Option<usize>,
        ts: i64,
        ns: u32,
        out: &mut Vec<StoredEvent>,
    ) -> bool {
        let Some((kind, sev)) = kind_of(type_id) else {
            return false;
        };
        if world.computers.is_empty() || ci.is_some_and(|i| i >= world.computers.len()) {
            return false;
        }
        let severity = self.severity(sev);
        let ci = ci.unwrap_or_else(|| self.pick_computer(world, severity.is_some()));
        self.emit(world, ci, type_id, kind, severity, ts, ns, 1, out);
        true
    }

    /// Real detections cluster: an outbreak hits a few hosts again and again, while routine
    /// events (scans, updates, policy) come from everywhere.
    fn pick_computer(&mut self, world: &World, alert: bool) -> usize {
        let n = world.computers.len();
        let hot = (n / 6).max(2).min(n);
        if alert && self.rng.random_bool(0.85) {
            self.rng.random_range(0..hot)
        } else {
            self.rng.random_range(0..n)
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        world: &World,
        ci: usize,
        type_id: u32,
        kind: Kind,
        severity: Option<&'static str>,
        ts: i64,
        ns: u32,
        budget: usize,
        out: &mut Vec<StoredEvent>,
    ) -> usize {
        let c = &world.computers[ci];
        let env = Env {
            c,
            group: &world.groups[c.group].guid,
            ts,
            ns,
        };
        match kind {
            Kind::Plain => {
                let id = self.alloc_ids(1);
                env.push(Spec::new(id, type_id, severity, self.close.clone()), out);
            }
            Kind::Scan(shape) => {
                let id = self.alloc_ids(1);
                let tails = match shape {
                    ScanShape::Started | ScanShape::Failed => &self.scan_started_tails,
                    ScanShape::Clean => &self.scan_completed_tails,
                    ScanShape::Detections => &self.scan_detection_tails,
                };
                let tail = tails[self.rng.random_range(0..tails.len())].clone();
                env.push(Spec::new(id, type_id, severity, tail), out);
            }
            Kind::FileFetch => {
                let id = self.alloc_ids(1);
                let t = &self.threats[pick_threat(&mut self.rng, self.threats.len())];
                let s = Spec::new(id, type_id, severity, t.tail_full.clone())
                    .file(Some(t.sha256.clone()), None);
                env.push(s, out);
            }
            Kind::ThreatDetected => {
                let det_id = self.alloc_ids(3);
                let t = &self.threats[pick_threat(&mut self.rng, self.threats.len())];
                let s = Spec::new(det_id + 1, type_id, severity, t.tail_parent.clone())
                    .detection(Some(t.detection), det_id)
                    .file(Some(t.sha256.clone()), Some(t.parent_sha256.clone()))
                    .with_user();
                env.push(s, out);
                if budget < 2 {
                    return 1;
                }
                // The twin: Threat Quarantined (85%) or Quarantine Failure, same detection_id.
                let (follow_type, extra) = if self.rng.random_bool(0.85) {
                    (THREAT_QUARANTINED, String::new())
                } else {
                    (QUARANTINE_FAILURE, quarantine_error(&mut self.rng))
                };
                let mut s = Spec::new(det_id + 2, follow_type, severity, t.tail_min.clone())
                    .detection(None, det_id)
                    .file(Some(t.sha256.clone()), None);
                s.extra = &extra;
                env.push(s, out);
                return 2;
            }
            Kind::Quarantine | Kind::QuarantineFailure => {
                let det_id = self.alloc_ids(2);
                let extra = if kind == Kind::QuarantineFailure {
                    quarantine_error(&mut self.rng)
                } else {
                    String::new()
                };
                let t = &self.threats[pick_threat(&mut self.rng, self.threats.len())];
                let mut s = Spec::new(det_id + 1, type_id, severity, t.tail_min.clone())
                    .detection(None, det_id)
                    .file(Some(t.sha256.clone()), None);
                s.extra = &extra;
                env.push(s, out);
            }
            Kind::DetectionFull | Kind::DetectionParent => {
                let det_id = self.alloc_ids(2);
                let t = &self.threats[pick_threat(&mut self.rng, self.threats.len())];
                let s = if kind == Kind::DetectionFull {
                    Spec::new(det_id + 1, type_id, severity, t.tail_full.clone())
                        .file(Some(t.sha256.clone()), None)
                } else {
                    Spec::new(det_id + 1, type_id, severity, t.tail_parent.clone())
                        .file(Some(t.sha256.clone()), Some(t.parent_sha256.clone()))
                        .with_user()
                };
                env.push(s.detection(Some(t.detection), det_id), out);
            }
            Kind::FileParent | Kind::ExploitPrevention => {
                let id = self.alloc_ids(1);
                let t = &self.threats[pick_threat(&mut self.rng, self.threats.len())];
                let s = if kind == Kind::ExploitPrevention {
                    Spec::new(id, type_id, severity, t.tail_exploit.clone())
                        .file(Some(t.sha256.clone()), None)
                } else {
                    Spec::new(id, type_id, severity, t.tail_parent.clone())
                        .file(Some(t.sha256.clone()), Some(t.parent_sha256.clone()))
                };
                env.push(s.with_user(), out);
            }
            Kind::Apk => {
                let det_id = self.alloc_ids(2);
                let t = &self.apks[self.rng.random_range(0..self.apks.len())];
                let s = Spec::new(det_id + 1, type_id, severity, t.text.clone())
                    .detection(t.detection, det_id)
                    .file(t.sha256.clone(), None);
                env.push(s, out);
            }
            Kind::CloudIoc => {
                let id = self.alloc_ids(1);
                let start = ts - self.rng.random_range(0..3i64);
                let mut extra = format!(",\"start_timestamp\":{start},\"start_date\":\"");
                push_event_date(&mut extra, start);
                extra.push('"');
                let ioc = &self.iocs[self.rng.random_range(0..self.iocs.len())];
                let mut s = Spec::new(id, type_id, severity, ioc.tail.clone())
                    .file(ioc.file_sha256.clone(), Some(ioc.parent_sha256.clone()));
                s.extra = &extra;
                env.push(s, out);
            }
            Kind::Compromise => {
                let id = self.alloc_ids(1);
                let t = self
                    .compromises
                    .iter()
                    .find(|(id, _)| *id == type_id)
                    .map(|(_, t)| t)
                    .expect("every Compromise type of the mix has a catalogue entry");
                let s = Spec::new(id, type_id, severity, t.text.clone())
                    .file(t.sha256.clone(), t.parent_sha256.clone())
                    .with_user();
                env.push(s, out);
            }
            Kind::Network(shape) => {
                let det_id = self.alloc_ids(2);
                let (tail, app) = tails::network(&mut self.rng, c, shape, &self.flow_parents);
                let mut s = Spec::new(det_id + 1, type_id, severity, tail.into()).file(None, app);
                if shape == super::mix::NetShape::Dfc {
                    let d = DFC_DETECTIONS[self.rng.random_range(0..DFC_DETECTIONS.len())];
                    s = s.detection(Some(d), det_id);
                }
                env.push(s.with_user(), out);
            }
            Kind::Vulnerable => {
                let id = self.alloc_ids(1);
                let t = &self.vulnerable[self.rng.random_range(0..self.vulnerable.len())];
                let s =
                    Spec::new(id, type_id, severity, t.text.clone()).file(t.sha256.clone(), None);
                env.push(s, out);
            }
            Kind::Isolation(shape) => {
                let id = self.alloc_ids(1);
                let tail = tails::isolation(&mut self.rng, shape);
                env.push(Spec::new(id, type_id, severity, tail.into()), out);
            }
            Kind::Orbital { update } => {
                let id = self.alloc_ids(1);
                let tail = tails::orbital(&mut self.rng, update);
                env.push(Spec::new(id, type_id, severity, tail.into()), out);
            }
            Kind::Update(shape) => {
                let id = self.alloc_ids(1);
                let serial = world.groups[c.group].policy_serial;
                let tail = tails::update(&mut self.rng, shape, serial);
                env.push(Spec::new(id, type_id, severity, tail.into()), out);
            }
            Kind::ThreatHunting => {
                // Real events of this type carry neither `id` nor `group_guids`.
                let tail = self.threat_hunting_tail(&c.hostname, ts);
                let mut s = Spec::new(0, type_id, severity, tail.into());
                s.id = None;
                s.groups = false;
                env.push(s, out);
            }
        }
        1
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
