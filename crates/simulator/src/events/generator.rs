//! The per-tenant, seeded event generator: its state, the draw of an event's kind,
//! severity and time, and the loop producing events at given times.

use std::sync::Arc;

use rand::rngs::SmallRng;

use rand::{RngExt, SeedableRng};

use crate::util::push_json_str;
use crate::world::{random_hex, World};

use super::catalogue::{Ioc, ParentFile, Threat, IOCS, PARENTS, THREATS};
use super::mix::{Kind, Sev, MIX};
use super::store::StoredEvent;
use super::tails::{self, Tail};

/// Per-tenant event generator (seeded; ids unique per tenant).
#[derive(Debug)]
pub(crate) struct Generator {
    pub(super) rng: SmallRng,
    next_id: u64,
    pub(super) threats: Vec<Threat>,
    pub(super) iocs: Vec<Ioc>,
    pub(super) scan_started_tails: Vec<Arc<str>>,
    pub(super) scan_completed_tails: Vec<Arc<str>>,
    pub(super) scan_detection_tails: Vec<Arc<str>>,
    /// (type id, tail) of each indication-of-compromise type.
    pub(super) compromises: Vec<(u32, Tail)>,
    pub(super) vulnerable: Vec<Tail>,
    pub(super) apks: Vec<Tail>,
    pub(super) flow_parents: Vec<Arc<str>>,
    pub(super) close: Arc<str>,
    cumulative: [u32; MIX.len()],
}

pub(super) fn identity_json(out: &mut String, sha256: &str, sha1: Option<&str>, md5: Option<&str>) {
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
pub(super) fn pick_threat(rng: &mut SmallRng, n: usize) -> usize {
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
        let scan_detection_tails = (0..4)
            .map(|i| {
                let d = ["Flash Scan", "Full Scan"][i % 2];
                Arc::from(format!(
                    ",\"scan\":{{\"description\":\"{d}\",\"clean\":false,\"scanned_files\":{},\"scanned_processes\":{},\"scanned_paths\":{},\"malicious_detections\":{}}}}}",
                    rng.random_range(800..400_000u32),
                    rng.random_range(60..260u32),
                    rng.random_range(20..900u32),
                    rng.random_range(1..6u32)
                ))
            })
            .collect();
        let compromises = tails::compromises(&mut rng);
        let vulnerable = tails::vulnerable_apps();
        let apks = tails::apks(&mut rng);

        let mut cumulative = [0u32; MIX.len()];
        let mut acc = 0;
        for (i, (_, w, ..)) in MIX.iter().enumerate() {
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
            scan_detection_tails,
            compromises,
            vulnerable,
            apks,
            flow_parents: tails::flow_parents(),
            close: Arc::from("}"),
            cumulative,
        }
    }

    pub(super) fn alloc_ids(&mut self, n: u64) -> u64 {
        let id = self.next_id;
        self.next_id += n + self.rng.random_range(1..(1u64 << 20));
        id
    }

    pub(super) fn pick_kind(&mut self) -> (u32, Kind, Sev) {
        let total = self.cumulative[MIX.len() - 1];
        let r = self.rng.random_range(0..total);
        let i = self.cumulative.partition_point(|&c| c <= r);
        let (id, _, kind, sev) = MIX[i.min(MIX.len() - 1)];
        (id, kind, sev)
    }

    pub(super) fn severity(&mut self, sev: Sev) -> Option<&'static str> {
        let r: f64 = self.rng.random();
        match sev {
            Sev::None => None,
            Sev::Mixed => Some(if r < 0.1 {
                "Low"
            } else if r < 0.75 {
                "Medium"
            } else {
                "High"
            }),
            Sev::High => Some(if r < 0.8 { "High" } else { "Medium" }),
            Sev::HighCritical => Some(if r < 0.7 { "High" } else { "Critical" }),
            Sev::Critical => Some("Critical"),
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
}

impl Generator {
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
