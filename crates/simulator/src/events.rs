//! Event storage and generation.
//!
//! * [`EventStore`]: one tenant's events, kept sorted ascending by
//!   `(timestamp, timestamp_nanoseconds, insertion sequence)`. Pages are read from the end
//!   (newest first), so the unfiltered and `start_date`-only paths cost O(log n + page).
//!   Every event's JSON text is stored once, pre-serialized; generated events share the
//!   per-computer `computer` object and per-threat `file` objects between events.
//! * [`Generator`]: a per-tenant, seeded generator of realistic events whose shapes follow
//!   the captured payloads (see `fixtures/secure-endpoint`).

use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde_json::Value;

use crate::event_types::name_of;
use crate::util::{push_event_date, push_json_str};
use crate::world::{random_hex, random_uuid, World};

// ------------------------------------------------------------------------------------------
// Stored events
// ------------------------------------------------------------------------------------------

/// The JSON text of one event, stored pre-serialized.
#[derive(Debug, Clone)]
pub(crate) enum EventText {
    /// Verbatim text (inserted or file-loaded events).
    Raw(Arc<str>),
    /// Generated: `head` + shared `computer` object + shared `tail`.
    Gen {
        head: Box<str>,
        computer: Arc<str>,
        tail: Arc<str>,
    },
}

impl EventText {
    pub fn len(&self) -> usize {
        match self {
            EventText::Raw(s) => s.len(),
            EventText::Gen {
                head,
                computer,
                tail,
            } => head.len() + computer.len() + tail.len(),
        }
    }

    pub fn push_to(&self, out: &mut String) {
        match self {
            EventText::Raw(s) => out.push_str(s),
            EventText::Gen {
                head,
                computer,
                tail,
            } => {
                out.push_str(head);
                out.push_str(computer);
                out.push_str(tail);
            }
        }
    }

    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(self.len());
        self.push_to(&mut s);
        s
    }
}

/// One stored event: its sort key, the fields filters look at, and its text.
#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    pub ts: i64,
    pub ns: u32,
    /// Insertion sequence (assigned by the store): later insertions sort as newer on ties.
    pub seq: u64,
    pub id: Option<u64>,
    pub type_id: Option<u32>,
    pub connector: Option<Arc<str>>,
    pub groups: Box<[Arc<str>]>,
    /// `file.identity.sha256`, lowercased.
    pub det_sha: Option<Arc<str>>,
    /// `file.parent.identity.sha256` (or `network_info.parent...`), lowercased.
    pub app_sha: Option<Arc<str>>,
    pub text: EventText,
}

impl StoredEvent {
    fn key(&self) -> (i64, u32, u64) {
        (self.ts, self.ns, self.seq)
    }

    /// Builds a stored event from verbatim JSON text. The text must be a JSON object with an
    /// integer `timestamp` or a parseable `date`.
    pub fn from_raw(text: Arc<str>) -> Result<StoredEvent, String> {
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("invalid JSON: {e}"))?;
        Self::from_value(&v, EventText::Raw(text))
    }

    pub fn from_value(v: &Value, text: EventText) -> Result<StoredEvent, String> {
        let obj = v.as_object().ok_or("not a JSON object")?;
        let ts = match obj.get("timestamp") {
            Some(t) => t
                .as_i64()
                .ok_or("`timestamp` is not an integer number of seconds")?,
            None => match obj.get("date").and_then(Value::as_str) {
                Some(d) => crate::util::parse_start_date(d)
                    .ok_or_else(|| format!("unparseable `date` {d:?}"))?,
                None => return Err("event has neither `timestamp` nor `date`".into()),
            },
        };
        let ns = obj
            .get("timestamp_nanoseconds")
            .and_then(Value::as_u64)
            .map(|n| n.min(999_999_999) as u32)
            .unwrap_or(0);
        let id = obj.get("id").and_then(Value::as_u64);
        let type_id = obj
            .get("event_type_id")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok());
        let connector = obj
            .get("connector_guid")
            .and_then(Value::as_str)
            .or_else(|| {
                v.pointer("/computer/connector_guid")
                    .and_then(Value::as_str)
            })
            .map(Arc::from);
        let groups = obj
            .get("group_guids")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(Arc::from)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into_boxed_slice();
        let lower = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .map(|s| Arc::from(s.to_ascii_lowercase()))
        };
        let det_sha = lower("/file/identity/sha256");
        let app_sha = lower("/file/parent/identity/sha256")
            .or_else(|| lower("/network_info/parent/identity/sha256"));
        Ok(StoredEvent {
            ts,
            ns,
            seq: 0,
            id,
            type_id,
            connector,
            groups,
            det_sha,
            app_sha,
            text,
        })
    }
}

/// Filters of `GET /v1/events` other than paging. OR within a field, AND across fields.
#[derive(Debug, Default, Clone)]
pub(crate) struct Filter {
    /// Inclusive lower bound on `timestamp` (epoch seconds).
    pub start: Option<i64>,
    pub types: Vec<u32>,
    pub connectors: Vec<String>,
    pub groups: Vec<String>,
    pub det_sha: Option<String>,
    pub app_sha: Option<String>,
}

impl Filter {
    fn is_time_only(&self) -> bool {
        self.types.is_empty()
            && self.connectors.is_empty()
            && self.groups.is_empty()
            && self.det_sha.is_none()
            && self.app_sha.is_none()
    }

    fn matches(&self, e: &StoredEvent) -> bool {
        if !self.types.is_empty() && !e.type_id.is_some_and(|t| self.types.contains(&t)) {
            return false;
        }
        if !self.connectors.is_empty()
            && !e
                .connector
                .as_ref()
                .is_some_and(|c| self.connectors.iter().any(|x| x.eq_ignore_ascii_case(c)))
        {
            return false;
        }
        if !self.groups.is_empty()
            && !e
                .groups
                .iter()
                .any(|g| self.groups.iter().any(|x| x.eq_ignore_ascii_case(g)))
        {
            return false;
        }
        if let Some(s) = &self.det_sha {
            if !e
                .det_sha
                .as_ref()
                .is_some_and(|d| d.eq_ignore_ascii_case(s))
            {
                return false;
            }
        }
        if let Some(s) = &self.app_sha {
            if !e
                .app_sha
                .as_ref()
                .is_some_and(|d| d.eq_ignore_ascii_case(s))
            {
                return false;
            }
        }
        true
    }
}

/// One tenant's events, sorted ascending by (timestamp, nanoseconds, insertion order).
#[derive(Debug, Default)]
pub(crate) struct EventStore {
    events: Vec<StoredEvent>,
    next_seq: u64,
}

impl EventStore {
    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn get(&self, i: usize) -> &StoredEvent {
        &self.events[i]
    }

    /// Oldest event's timestamp (seconds), if any.
    pub fn oldest_ts(&self) -> Option<i64> {
        self.events.first().map(|e| e.ts)
    }

    /// Ids in API order (newest first); `None` for events without an `id`.
    pub fn ids_newest_first(&self) -> Vec<Option<u64>> {
        self.events.iter().rev().map(|e| e.id).collect()
    }

    /// Inserts events; ties on (timestamp, nanoseconds) are broken by insertion order
    /// (later insertions are "newer" and come first in API order).
    pub fn insert_many(&mut self, mut batch: Vec<StoredEvent>) {
        if batch.is_empty() {
            return;
        }
        for e in &mut batch {
            e.seq = self.next_seq;
            self.next_seq += 1;
        }
        let batch_sorted = batch.windows(2).all(|w| w[0].key() <= w[1].key());
        let appends = self
            .events
            .last()
            .is_none_or(|last| last.key() <= batch[0].key());
        if batch_sorted && appends {
            self.events.extend(batch);
        } else if batch.len() <= 16 {
            for e in batch {
                let key = e.key();
                let pos = self.events.partition_point(|x| x.key() <= key);
                self.events.insert(pos, e);
            }
        } else {
            // Stable sort of two sorted runs is a linear merge in practice.
            self.events.extend(batch);
            self.events.sort_by_key(StoredEvent::key);
        }
    }

    /// Selects one page. Returns `(total matching, indices of the page, newest first)`.
    pub fn select(&self, f: &Filter, offset: usize, limit: usize) -> (usize, Vec<usize>) {
        let n = self.events.len();
        let lo = match f.start {
            Some(s) => self.events.partition_point(|e| e.ts < s),
            None => 0,
        };
        if f.is_time_only() {
            let total = n - lo;
            let end = offset.saturating_add(limit).min(total);
            let idx = (offset.min(total)..end).map(|k| n - 1 - k).collect();
            return (total, idx);
        }
        let mut total = 0usize;
        let mut idx = Vec::new();
        for i in (lo..n).rev() {
            if f.matches(&self.events[i]) {
                if total >= offset && idx.len() < limit {
                    idx.push(i);
                }
                total += 1;
            }
        }
        (total, idx)
    }
}

// ------------------------------------------------------------------------------------------
// Generator
// ------------------------------------------------------------------------------------------

/// Static catalogue of threats: (detection name, file name, Windows path).
const THREATS: [(&str, &str, &str); 12] = [
    ("W32.Overdrive.RET", "BIT657.tmp", r"\\?\C:\BIT657.tmp"),
    (
        "W32.GenericKD:ZVETJ.18gs.1201",
        "wsymqyv90.exe",
        r"\\?\C:\Users\Administrator\AppData\Local\Temp\OUTLOOK_TEMP\wsymqyv90.exe",
    ),
    (
        "W32.12081E6CA3-95.SBX.TG",
        "MspthrdHash.exe",
        r"\\?\C:\ProgramData\MspthrdHash\MspthrdHash.exe",
    ),
    (
        "Eicar-Test-Signature",
        "eicar.com",
        r"\\?\C:\Users\Public\Downloads\eicar.com",
    ),
    (
        "W32.Variant:Emotet.22kd.1201",
        "invoice_0423.doc.exe",
        r"\\?\C:\Users\Public\Documents\invoice_0423.doc.exe",
    ),
    (
        "Win.Ransomware.WannaCry::1201",
        "tasksche.exe",
        r"\\?\C:\ProgramData\gsqzpyvd\tasksche.exe",
    ),
    (
        "W32.Auto:5c84ac.in03.Talos",
        "update_helper.exe",
        r"\\?\C:\Windows\Temp\update_helper.exe",
    ),
    (
        "Win.Trojan.Qakbot::tpd",
        "zmnrdl.dll",
        r"\\?\C:\Users\Public\Libraries\zmnrdl.dll",
    ),
    (
        "W32.Trojan.Agent.FRT",
        "setup_x64.exe",
        r"\\?\C:\Users\Administrator\Downloads\setup_x64.exe",
    ),
    (
        "Win.Malware.Cobaltstrike::in10.talos",
        "beacon.dll",
        r"\\?\C:\Windows\Temp\beacon.dll",
    ),
    (
        "W32.PUA.Bundler.XQ",
        "free_player_install.exe",
        r"\\?\C:\Users\Public\Downloads\free_player_install.exe",
    ),
    (
        "Win.Dropper.Trickbot::1201",
        "mswinupd.exe",
        r"\\?\C:\ProgramData\mswinupd.exe",
    ),
];

/// Parent processes (file name). Their hashes are fixed (derived from a constant seed) so
/// the same parent has the same hash in every tenant.
const PARENTS: [&str; 6] = [
    "svchost.exe",
    "iexplore.exe",
    "explorer.exe",
    "OUTLOOK.EXE",
    "WINWORD.EXE",
    "powershell.exe",
];

/// Cloud IOC catalogue: (short_description, description, file name, path or None for a
/// network_info variant, dirty url, tactics, techniques).
type IocSpec = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);
const IOCS: [IocSpec; 6] = [
    (
        "W32.PsexecAsAdmin.ioc",
        "The psexec utility was executed as admin.",
        "PsExec.exe",
        Some("file:///C%3A/share%24/PsExec.exe"),
        "",
        &["TA0002", "TA0008"],
        &["T1569"],
    ),
    (
        "W32.WScriptExecuteFakeExtension.ioc",
        "The Windows Scripting Host (WScript.exe) was used to execute a file with a fake benign extension prior to a scripting extension. This is indicative of an attempt to conceal the malicious intent of the file and to trick the user into opening it.",
        "WScript.exe",
        Some("/C:/Windows/System32/WScript.exe"),
        "",
        &["TA0005", "TA0002"],
        &["T1036"],
    ),
    (
        "W32.PowershellEncodedCommand.ioc",
        "PowerShell was launched with an encoded command line, which is often used to hide malicious scripts.",
        "powershell.exe",
        Some("/C:/Windows/System32/WindowsPowerShell/v1.0/powershell.exe"),
        "",
        &["TA0002"],
        &["T1059"],
    ),
    (
        "W32.RundllSuspiciousArgs.ioc",
        "Rundll32 was launched with arguments typical of malware loaders.",
        "rundll32.exe",
        Some("/C:/Windows/System32/rundll32.exe"),
        "",
        &["TA0005"],
        &["T1218"],
    ),
    (
        "ConnectionToSuspiciousDomain.ioc",
        "An outbound connection was made to a domain that is similar to randomly generated domains used by some malware command and control systems.",
        "",
        None,
        "http://dcb5684707f6c66492aaa9f7d9bfb5a6.biz/",
        &["TA0005", "TA0002"],
        &["T1220"],
    ),
    (
        "GateDotPhp.ioc",
        "Accessed URL matches characteristics of several malware families.",
        "",
        None,
        "http://fbsgang.info/cc/gate.php",
        &["TA0011"],
        &[],
    ),
];

const QUARANTINE_ERRORS: [(u64, &str); 4] = [
    (3221225524, "Object name not found"),
    (3221225530, "Object path not found"),
    (3221225558, "Delete pending"),
    (3221225761, "Cannot delete"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    ScanStarted,
    ScanCompleted,
    FileFetch,
    ThreatDetected,
    Retrospective,
    CloudIoc,
    ExecutedMalware,
    MaliciousActivity,
    ExploitPrevention,
    Ransomware,
    ThreatHunting,
}

/// (event_type_id, weight out of 1000, kind). Threat Detected is followed by Threat
/// Quarantined (85%) or Quarantine Failure (15%) sharing its `detection_id`.
const MIX: [(u32, u32, Kind); 17] = [
    (553648130, 190, Kind::Plain),         // Policy Update
    (554696714, 110, Kind::ScanStarted),   // Scan Started
    (554696715, 100, Kind::ScanCompleted), // Scan Completed, No Detections
    (553648135, 40, Kind::Plain),          // Product Update Started
    (553648136, 40, Kind::Plain),          // Product Update Completed
    (553648179, 35, Kind::Plain),          // Endpoint IOC Definition Update Success
    (553648176, 20, Kind::Plain),          // Endpoint IOC Configuration Update Success
    (553648170, 15, Kind::Plain),          // Reboot Pending
    (553648173, 20, Kind::FileFetch),      // File Fetch Completed
    (1090519054, 180, Kind::ThreatDetected),
    (553648147, 40, Kind::Retrospective),
    (1107296274, 95, Kind::CloudIoc),
    (1107296272, 40, Kind::ExecutedMalware),
    (1090519105, 30, Kind::MaliciousActivity),
    (1090519103, 25, Kind::ExploitPrevention),
    (1107296284, 18, Kind::Ransomware),
    (1107296344, 2, Kind::ThreatHunting),
];

const THREAT_QUARANTINED: u32 = 553648143;
const QUARANTINE_FAILURE: u32 = 2164260880;

/// A file known to the tenant, with its pre-serialized `,"file":{...}}` tails.
#[derive(Debug)]
struct Threat {
    detection: &'static str,
    sha256: Arc<str>,
    parent_sha256: Arc<str>,
    /// name, path, full identity, parent.
    tail_parent: Arc<str>,
    /// name, path, full identity, no parent.
    tail_full: Arc<str>,
    /// disposition + sha256 only.
    tail_min: Arc<str>,
    /// full file with `attack_details`.
    tail_exploit: Arc<str>,
}

#[derive(Debug)]
struct Ioc {
    file_sha256: Option<Arc<str>>,
    parent_sha256: Arc<str>,
    tail: Arc<str>,
}

#[derive(Debug, Clone)]
struct ParentFile {
    name: &'static str,
    sha256: String,
    sha1: String,
    md5: String,
}

/// Per-tenant event generator (seeded; ids unique per tenant).
#[derive(Debug)]
pub(crate) struct Generator {
    rng: SmallRng,
    next_id: u64,
    threats: Vec<Threat>,
    iocs: Vec<Ioc>,
    scan_started_tails: Vec<Arc<str>>,
    scan_completed_tails: Vec<Arc<str>>,
    close: Arc<str>,
    cumulative: [u32; MIX.len()],
}

fn identity_json(out: &mut String, sha256: &str, sha1: Option<&str>, md5: Option<&str>) {
    out.push_str("\"identity\":{\"sha256\":");
    push_json_str(out, sha256);
    if let Some(s) = sha1 {
        out.push_str(",\"sha1\":");
        push_json_str(out, s);
    }
    if let Some(s) = md5 {
        out.push_str(",\"md5\":");
        push_json_str(out, s);
    }
    out.push('}');
}

/// A few active campaigns account for most detections; the rest is the long tail.
fn pick_threat(rng: &mut SmallRng, n: usize) -> usize {
    if n > 3 && rng.random_bool(0.8) {
        rng.random_range(0..3)
    } else {
        rng.random_range(0..n.max(1))
    }
}

impl Generator {
    /// Creates a generator; `rng` should be derived from the simulator seed and the tenant.
    pub fn new(mut rng: SmallRng) -> Generator {
        let mut fixed = SmallRng::seed_from_u64(0x5eb1_d9e0);
        let parents: Vec<ParentFile> = PARENTS
            .iter()
            .map(|name| ParentFile {
                name,
                sha256: random_hex(&mut fixed, 64),
                sha1: random_hex(&mut fixed, 40),
                md5: random_hex(&mut fixed, 32),
            })
            .collect();

        let mut threats = Vec::new();
        for i in 0..16 {
            let (detection, name, path) =
                THREATS[(i + rng.random_range(0..THREATS.len())) % THREATS.len()];
            let sha256 = random_hex(&mut rng, 64);
            let sha1 = random_hex(&mut rng, 40);
            let md5 = random_hex(&mut rng, 32);
            let parent = &parents[rng.random_range(0..parents.len())];
            let pid = rng.random_range(300..12_000u32);

            let mut file_head =
                String::from(",\"file\":{\"disposition\":\"Malicious\",\"file_name\":");
            push_json_str(&mut file_head, name);
            file_head.push_str(",\"file_path\":");
            push_json_str(&mut file_head, path);
            file_head.push(',');
            identity_json(&mut file_head, &sha256, Some(&sha1), Some(&md5));

            let tail_full = format!("{file_head}}}}}");
            let mut tail_parent = file_head.clone();
            tail_parent.push_str(&format!(
                ",\"parent\":{{\"process_id\":{pid},\"disposition\":\"Clean\",\"file_name\":"
            ));
            push_json_str(&mut tail_parent, parent.name);
            tail_parent.push(',');
            identity_json(
                &mut tail_parent,
                &parent.sha256,
                Some(&parent.sha1),
                Some(&parent.md5),
            );
            tail_parent.push_str("}}}");

            let mut tail_min = String::from(",\"file\":{\"disposition\":\"Malicious\",");
            identity_json(&mut tail_min, &sha256, None, None);
            tail_min.push_str("}}");

            let mut tail_exploit = file_head.clone();
            tail_exploit.push_str(",\"attack_details\":{\"application\":");
            push_json_str(&mut tail_exploit, parent.name);
            tail_exploit.push_str(",\"attacked_module\":");
            push_json_str(
                &mut tail_exploit,
                &format!("C:\\Windows\\System32\\{}", "ntdll.dll"),
            );
            tail_exploit.push_str(&format!(
                ",\"base_address\":\"0x{:08X}\",\"suspicious_files\":[],\"indicators\":[{{\"id\":\"{}\",\"description\":\"Shellcode was executed from a heap region.\",\"short_description\":\"Heap shellcode\",\"severity\":\"high\",\"tactics\":[\"TA0002\"],\"techniques\":[\"T1203\"]}}]}}}}}}",
                rng.random_range(0x1000_0000u32..0x7fff_0000),
                random_hex(&mut rng, 8)
            ));

            threats.push(Threat {
                detection,
                sha256: sha256.into(),
                parent_sha256: parent.sha256.as_str().into(),
                tail_parent: tail_parent.into(),
                tail_full: tail_full.into(),
                tail_min: tail_min.into(),
                tail_exploit: tail_exploit.into(),
            });
        }

        let mut iocs = Vec::new();
        for (short, desc, fname, path, url, tactics, techniques) in IOCS {
            let parent_sha = random_hex(&mut rng, 64);
            let mut t = String::from(",\"cloud_ioc\":{\"description\":");
            push_json_str(&mut t, desc);
            t.push_str(",\"short_description\":");
            push_json_str(&mut t, short);
            t.push('}');
            let mut file_sha = None;
            match path {
                Some(p) => {
                    let sha = random_hex(&mut rng, 64);
                    t.push_str(",\"file\":{\"disposition\":\"Clean\",\"file_name\":");
                    push_json_str(&mut t, fname);
                    t.push_str(",\"file_path\":");
                    push_json_str(&mut t, p);
                    t.push(',');
                    identity_json(&mut t, &sha, None, None);
                    t.push_str(",\"parent\":{\"disposition\":\"Clean\",");
                    identity_json(&mut t, &parent_sha, None, None);
                    t.push_str("}}");
                    file_sha = Some(Arc::from(sha.as_str()));
                }
                None => {
                    t.push_str(",\"network_info\":{\"dirty_url\":");
                    push_json_str(&mut t, url);
                    t.push_str(",\"parent\":{\"disposition\":\"Unknown\",");
                    identity_json(&mut t, &parent_sha, None, None);
                    t.push_str("}}");
                }
            }
            if !tactics.is_empty() {
                let list: Vec<String> = tactics.iter().map(|x| format!("\"{x}\"")).collect();
                t.push_str(&format!(",\"tactics\":[{}]", list.join(",")));
            }
            if !techniques.is_empty() {
                let list: Vec<String> = techniques.iter().map(|x| format!("\"{x}\"")).collect();
                t.push_str(&format!(",\"techniques\":[{}]", list.join(",")));
            }
            t.push('}');
            iocs.push(Ioc {
                file_sha256: file_sha,
                parent_sha256: parent_sha.into(),
                tail: t.into(),
            });
        }

        let scan_started_tails = ["Flash Scan", "Full Scan", "Custom Scan"]
            .iter()
            .map(|d| Arc::from(format!(",\"scan\":{{\"description\":\"{d}\"}}}}")))
            .collect();
        let scan_completed_tails = (0..8)
            .map(|i| {
                let d = ["Flash Scan", "Full Scan"][i % 2];
                let files = if i % 2 == 0 {
                    rng.random_range(800..6_000u32)
                } else {
                    rng.random_range(90_000..400_000u32)
                };
                Arc::from(format!(
                    ",\"scan\":{{\"description\":\"{d}\",\"clean\":true,\"scanned_files\":{files},\"scanned_processes\":{},\"scanned_paths\":{},\"malicious_detections\":0}}}}",
                    rng.random_range(60..260u32),
                    rng.random_range(20..900u32)
                ))
            })
            .collect();

        let mut cumulative = [0u32; MIX.len()];
        let mut acc = 0;
        for (i, (_, w, _)) in MIX.iter().enumerate() {
            acc += w;
            cumulative[i] = acc;
        }
        // Ids: above 2^62, in the range seen in real data (~6.18e18 .. 7e18), unique per tenant.
        let next_id = 6_180_000_000_000_000_000 + rng.random_range(0..1u64 << 55);
        Generator {
            rng,
            next_id,
            threats,
            iocs,
            scan_started_tails,
            scan_completed_tails,
            close: Arc::from("}"),
            cumulative,
        }
    }

    fn alloc_ids(&mut self, n: u64) -> u64 {
        let id = self.next_id;
        self.next_id += n + self.rng.random_range(1..(1u64 << 20));
        id
    }

    fn pick_kind(&mut self) -> (u32, Kind) {
        let total = self.cumulative[MIX.len() - 1];
        let r = self.rng.random_range(0..total);
        let i = self.cumulative.partition_point(|&c| c <= r);
        let (id, _, kind) = MIX[i.min(MIX.len() - 1)];
        (id, kind)
    }

    fn severity(&mut self, kind: Kind) -> Option<&'static str> {
        let r: f64 = self.rng.random();
        match kind {
            Kind::Plain | Kind::ScanStarted | Kind::ScanCompleted | Kind::FileFetch => None,
            Kind::ThreatDetected | Kind::CloudIoc => Some(if r < 0.1 {
                "Low"
            } else if r < 0.75 {
                "Medium"
            } else {
                "High"
            }),
            Kind::Retrospective | Kind::ExecutedMalware | Kind::ExploitPrevention => {
                Some(if r < 0.8 { "High" } else { "Medium" })
            }
            Kind::MaliciousActivity => Some(if r < 0.7 { "High" } else { "Critical" }),
            Kind::Ransomware | Kind::ThreatHunting => Some("Critical"),
        }
    }

    /// Generates events at the given times (ascending), appending to `out`. Threat
    /// Detected may be followed by its Threat Quarantined / Quarantine Failure twin at the
    /// same instant; that twin consumes the next time slot, so exactly `times.len()` events
    /// are produced. Does nothing if the world has no computers.
    pub fn generate(&mut self, world: &World, times: &[(i64, u32)], out: &mut Vec<StoredEvent>) {
        if world.computers.is_empty() {
            return;
        }
        let mut i = 0;
        while i < times.len() {
            let (ts, ns) = times[i];
            let remaining = times.len() - i;
            i += self.generate_one(world, ts, ns, remaining, out);
        }
    }

    fn generate_one(
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

    /// Draws a nanosecond value.
    pub fn random_ns(&mut self) -> u32 {
        self.rng.random_range(0..1_000_000_000u32)
    }

    /// Draws `n` instants spread uniformly over `[from_ns, to_ns)` (epoch nanoseconds),
    /// sorted ascending, as (seconds, sub-second nanoseconds).
    pub fn spread_times(&mut self, n: usize, from_ns: i128, to_ns: i128) -> Vec<(i64, u32)> {
        let span = (to_ns - from_ns).max(1) as u128;
        let mut v: Vec<i128> = (0..n)
            .map(|_| from_ns + (self.rng.random::<u64>() as u128 % span) as i128)
            .collect();
        v.sort_unstable();
        v.into_iter()
            .map(|t| {
                (
                    t.div_euclid(1_000_000_000) as i64,
                    t.rem_euclid(1_000_000_000) as u32,
                )
            })
            .collect()
    }

    /// Draws a Poisson-distributed count with mean `lambda`.
    pub fn poisson(&mut self, lambda: f64) -> usize {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda > 30.0 {
            // Normal approximation.
            let u1: f64 = self.rng.random::<f64>().max(1e-12);
            let u2: f64 = self.rng.random();
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            return (lambda + z * lambda.sqrt()).round().max(0.0) as usize;
        }
        let l = (-lambda).exp();
        let mut k = 0usize;
        let mut p = 1.0f64;
        loop {
            p *= self.rng.random::<f64>();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }
}

const MITRE_TACTIC: &str = r#"{"name":"Defense Evasion","description":"<p>The adversary is trying to avoid being detected.</p>\n","external_id":"TA0005","mitre_name":"tactic","mitre_url":"https://attack.mitre.org/tactics/TA0005"}"#;
const MITRE_TECHNIQUE: &str = r#"{"name":"Scheduled Task/Job","description":"<p>Adversaries may abuse task scheduling functionality to facilitate initial or recurring execution of malicious code.</p>\n","external_id":"T1053","mitre_name":"technique","mitre_url":"https://attack.mitre.org/techniques/T1053","tactics_names":"Execution, Persistence, Privilege Escalation","platforms":"Windows, Linux, macOS","system_requirements":null,"permissions":"Administrator, SYSTEM, User","data_sources":"File monitoring, Process monitoring"}"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> World {
        let mut rng = SmallRng::seed_from_u64(7);
        World::generate(&mut rng, "t", "http://127.0.0.1:1", 1_700_000_000)
    }

    #[test]
    fn generated_events_are_valid_json() {
        let w = world();
        let mut g = Generator::new(SmallRng::seed_from_u64(1));
        let times = g.spread_times(5000, 1_700_000_000_000_000_000, 1_700_000_360_000_000_000);
        let mut out = Vec::new();
        g.generate(&w, &times, &mut out);
        assert_eq!(out.len(), 5000);
        let mut seen = std::collections::HashSet::new();
        for e in &out {
            let text = e.text.to_text();
            let v: Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(err) => panic!("{err}: {text}"),
            };
            let back = StoredEvent::from_value(&v, EventText::Raw(Arc::from(""))).unwrap();
            assert_eq!(back.ts, e.ts);
            assert_eq!(back.ns, e.ns);
            assert_eq!(back.id, e.id);
            assert_eq!(back.type_id, e.type_id);
            assert_eq!(back.connector, e.connector);
            assert_eq!(back.groups, e.groups);
            assert_eq!(back.det_sha, e.det_sha);
            assert_eq!(back.app_sha, e.app_sha);
            if let Some(id) = e.id {
                assert!(id > 1 << 62);
                assert!(seen.insert(id), "duplicate id");
            }
        }
    }

    #[test]
    fn store_orders_and_pages() {
        let w = world();
        let mut g = Generator::new(SmallRng::seed_from_u64(2));
        let mut store = EventStore::default();
        for _ in 0..3 {
            let times = g.spread_times(100, 0, 100_000_000_000);
            let mut out = Vec::new();
            g.generate(&w, &times, &mut out);
            store.insert_many(out);
        }
        // a few single inserts in the middle
        let mut out = Vec::new();
        g.generate(&w, &[(50, 5), (10, 1)], &mut out);
        store.insert_many(out);
        assert_eq!(store.len(), 302);
        for i in 1..store.len() {
            assert!(store.get(i - 1).key() <= store.get(i).key());
        }
        let (total, idx) = store.select(&Filter::default(), 0, 10);
        assert_eq!(total, 302);
        assert_eq!(idx, (292..302).rev().collect::<Vec<_>>());
        let f = Filter {
            start: Some(50),
            ..Filter::default()
        };
        let (total, _) = store.select(&f, 0, 500);
        assert_eq!(total, store.events.iter().filter(|e| e.ts >= 50).count());
        let (_, idx) = store.select(&f, total, 10);
        assert!(idx.is_empty());
    }
}
