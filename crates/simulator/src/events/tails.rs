//! The pre-serialized parts of the event kinds beyond the first generator's: what follows
//! the `computer` object (`,"file":{...},...}`), built once per tenant where the content
//! does not depend on the computer, else per event (these kinds are rare).

use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use crate::util::push_json_str;
use crate::world::{random_hex, Computer};

use super::catalogue_more::{
    APKS, COMPROMISES, FLOWS, ISOLATION_ERRORS, ISOLATION_USERS, ORBITAL_VERSIONS,
    PACKAGE_VERSIONS, VULNERABLE_APPS,
};
use super::generator::identity_json;
use super::mix::{IsoShape, NetShape, UpdateShape};

/// A tail with the hashes the store's filters see (`file.identity.sha256` and the parent's).
#[derive(Debug)]
pub(super) struct Tail {
    pub text: Arc<str>,
    pub sha256: Option<Arc<str>>,
    pub parent_sha256: Option<Arc<str>>,
    pub detection: Option<&'static str>,
}

/// The identity of a well-known file, the same in every tenant (derived from its name).
pub(super) fn fixed_identity(name: &str) -> (String, String, String) {
    // FNV-1a of the name seeds the hashes.
    let seed = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut rng = SmallRng::seed_from_u64(seed);
    (
        random_hex(&mut rng, 64),
        random_hex(&mut rng, 40),
        random_hex(&mut rng, 32),
    )
}

fn push_parent(t: &mut String, pid: u32, name: &str, sha256: &str, sha1: &str, md5: &str) {
    t.push_str(&format!(
        ",\"parent\":{{\"process_id\":{pid},\"disposition\":\"Clean\",\"file_name\":"
    ));
    push_json_str(t, name);
    t.push(',');
    identity_json(t, sha256, Some(sha1), Some(md5));
    t.push('}');
}

/// One tail per indication-of-compromise type: (type id, tail).
pub(super) fn compromises(rng: &mut SmallRng) -> Vec<(u32, Tail)> {
    COMPROMISES
        .iter()
        .map(|x| {
            // A system binary (cmd.exe) has its one hash everywhere; a dropped file is new.
            let sha = if x.disposition == "Clean" {
                fixed_identity(x.file_name).0
            } else {
                random_hex(rng, 64)
            };
            let (psha, psha1, pmd5) = fixed_identity(x.parent);
            let mut t = String::from(",\"file\":{\"disposition\":");
            push_json_str(&mut t, x.disposition);
            t.push_str(",\"file_name\":");
            push_json_str(&mut t, x.file_name);
            t.push_str(",\"file_path\":");
            push_json_str(&mut t, x.file_path);
            t.push(',');
            identity_json(&mut t, &sha, None, None);
            push_parent(
                &mut t,
                rng.random_range(300..12_000u32),
                x.parent,
                &psha,
                &psha1,
                &pmd5,
            );
            t.push('}');
            if let Some(args) = x.command_line {
                t.push_str(",\"command_line\":{\"arguments\":");
                push_json_str(&mut t, args);
                t.push('}');
            }
            t.push('}');
            let tail = Tail {
                text: t.into(),
                sha256: Some(sha.as_str().into()),
                parent_sha256: Some(psha.as_str().into()),
                detection: None,
            };
            (x.type_id, tail)
        })
        .collect()
}

/// One tail per vulnerable application: its `file` and `vulnerabilities[]`.
pub(super) fn vulnerable_apps() -> Vec<Tail> {
    VULNERABLE_APPS
        .iter()
        .map(|(name, version, file, path, cves)| {
            let (sha, sha1, md5) = fixed_identity(&format!("{file} {version}"));
            let mut t = String::from(",\"file\":{\"disposition\":\"Clean\",\"file_name\":");
            push_json_str(&mut t, file);
            t.push_str(",\"file_path\":");
            push_json_str(&mut t, path);
            t.push(',');
            identity_json(&mut t, &sha, Some(&sha1), Some(&md5));
            t.push_str("},\"vulnerabilities\":[");
            for (i, (cve, score)) in cves.iter().enumerate() {
                if i > 0 {
                    t.push(',');
                }
                t.push_str("{\"name\":");
                push_json_str(&mut t, name);
                t.push_str(",\"version\":");
                push_json_str(&mut t, version);
                t.push_str(",\"cve\":");
                push_json_str(&mut t, cve);
                t.push_str(&format!(",\"score\":{score},\"url\":"));
                push_json_str(
                    &mut t,
                    &format!("https://web.nvd.nist.gov/view/vuln/detail?vulnId={cve}"),
                );
                t.push('}');
            }
            t.push_str("]}");
            Tail {
                text: t.into(),
                sha256: Some(sha.as_str().into()),
                parent_sha256: None,
                detection: None,
            }
        })
        .collect()
}

/// One tail per Android package: a malicious `base.apk`.
pub(super) fn apks(rng: &mut SmallRng) -> Vec<Tail> {
    APKS.iter()
        .map(|(detection, dir)| {
            let sha = random_hex(rng, 64);
            let mut t = String::from(
                ",\"file\":{\"disposition\":\"Malicious\",\"file_name\":\"base.apk\",\"file_path\":",
            );
            push_json_str(&mut t, &format!("/data/app/{dir}/base.apk"));
            t.push(',');
            identity_json(&mut t, &sha, Some(&random_hex(rng, 40)), Some(&random_hex(rng, 32)));
            t.push_str("}}");
            Tail {
                text: t.into(),
                sha256: Some(sha.as_str().into()),
                parent_sha256: None,
                detection: Some(detection),
            }
        })
        .collect()
}

/// The hash of the process behind each of [`FLOWS`].
pub(super) fn flow_parents() -> Vec<Arc<str>> {
    FLOWS
        .iter()
        .map(|f| Arc::from(fixed_identity(f.4).0.as_str()))
        .collect()
}

/// A `network_info` tail for computer `c`: (tail, the flow parent's sha256). `parents` is
/// [`flow_parents`].
pub(super) fn network(
    rng: &mut SmallRng,
    c: &Computer,
    shape: NetShape,
    parents: &[Arc<str>],
) -> (String, Option<Arc<str>>) {
    // DFC matches on the address alone; the others are about a URL.
    let i = loop {
        let i = rng.random_range(0..FLOWS.len());
        if shape == NetShape::Dfc || !FLOWS[i].3.is_empty() {
            break i;
        }
    };
    let (remote_ip, remote_port, protocol, url, process) = FLOWS[i];
    let mut t = String::with_capacity(420);
    t.push_str(",\"network_info\":{");
    if !url.is_empty() {
        t.push_str("\"dirty_url\":");
        push_json_str(&mut t, url);
        t.push(',');
    }
    t.push_str("\"remote_ip\":");
    push_json_str(&mut t, remote_ip);
    t.push_str(&format!(",\"remote_port\":{remote_port},\"local_ip\":"));
    push_json_str(&mut t, &c.internal_ip);
    let direction = if rng.random_bool(0.9) {
        "Outgoing connection from"
    } else {
        "Incoming connection from"
    };
    t.push_str(&format!(
        ",\"local_port\":{},\"nfm\":{{\"direction\":\"{direction}\",\"protocol\":\"{protocol}\"}}",
        rng.random_range(49_152..=65_535u32)
    ));
    let mut app = None;
    if shape != NetShape::Ios {
        t.push_str(&format!(
            ",\"parent\":{{\"process_id\":{},\"disposition\":\"Unknown\",\"file_name\":",
            rng.random_range(300..12_000u32)
        ));
        push_json_str(&mut t, process);
        t.push(',');
        identity_json(&mut t, &parents[i], None, None);
        t.push('}');
        app = Some(parents[i].clone());
    }
    if shape == NetShape::Dfc {
        t.push_str(",\"disposition\":\"Malicious\"");
    }
    t.push_str("}}");
    (t, app)
}

/// An `isolation` tail.
pub(super) fn isolation(rng: &mut SmallRng, shape: IsoShape) -> String {
    let user = ISOLATION_USERS[rng.random_range(0..ISOLATION_USERS.len())];
    let mut t = String::from(",\"isolation\":{");
    if shape == IsoShape::Stop {
        t.push_str(&format!(
            "\"duration\":{},",
            rng.random_range(30..7 * 86_400u32)
        ));
    }
    t.push_str("\"user\":");
    push_json_str(&mut t, user);
    if shape == IsoShape::Failure {
        let code = ISOLATION_ERRORS[rng.random_range(0..ISOLATION_ERRORS.len())];
        t.push_str(&format!(",\"error_code\":{code}"));
    }
    t.push_str("}}");
    t
}

/// An `orbital` tail (an install has no previous version).
pub(super) fn orbital(rng: &mut SmallRng, update: bool) -> String {
    let (version, old) = ORBITAL_VERSIONS[rng.random_range(0..ORBITAL_VERSIONS.len())];
    if update {
        format!(",\"orbital\":{{\"version\":\"{version}\",\"old_version\":\"{old}\"}}}}")
    } else {
        format!(",\"orbital\":{{\"version\":\"{version}\"}}}}")
    }
}

/// A `bp_data` tail of a connector update. The keys are the reference's; the values are
/// numbers, as Microsoft Sentinel's schema for these events types them; `sts` 0 is taken
/// to mean success (its meaning is not documented).
pub(super) fn update(rng: &mut SmallRng, shape: UpdateShape, policy_serial: u32) -> String {
    let (current, previous) = PACKAGE_VERSIONS[rng.random_range(0..PACKAGE_VERSIONS.len())];
    let mut t = format!(",\"bp_data\":{{\"package_manager_serial_number\":{policy_serial}");
    match shape {
        UpdateShape::Started => t.push_str(&format!(
            ",\"package_manager_current_version\":{previous},\"package_manager_pending_version\":{current},\"sts\":0"
        )),
        UpdateShape::Completed => {
            t.push_str(&format!(",\"package_manager_current_version\":{current},\"sts\":0"))
        }
        UpdateShape::Failed => t.push_str(&format!(
            ",\"package_manager_current_version\":{previous},\"package_manager_pending_version\":{current},\"sts\":{}",
            rng.random_range(1..40u32)
        )),
    }
    t.push_str("}}");
    t
}
