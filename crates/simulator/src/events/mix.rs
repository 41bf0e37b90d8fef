//! Every event type of the reference table (`event_types.rs`) with its JSON shape, the
//! severity it is drawn with, and its weight in the live mix.
//!
//! Shapes follow the captured payloads (`fixtures/secure-endpoint`) and the reference's
//! field table (§4.4). Where the reference gives no fields for a type, it gets the common
//! envelope only ([`Kind::Plain`]); the comments below say so per type.

/// The JSON shape of an event (what follows the envelope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// The common envelope only (id, times, type, connector, groups, computer).
    Plain,
    /// `scan{...}` (§4.4 `scan`).
    Scan(ScanShape),
    /// `file{...}` of a known threat without detection name (File Fetch).
    FileFetch,
    /// Threat Detected, followed by its Threat Quarantined / Quarantine Failure twin.
    ThreatDetected,
    /// `detection`, `detection_id` and the whole `file` (Retrospective Detection fixture).
    DetectionFull,
    /// `detection`, `detection_id`, `file` with its `parent`, `computer.user`.
    DetectionParent,
    /// `detection_id` and `file{disposition, identity{sha256}}` (Threat Quarantined fixture).
    Quarantine,
    /// As [`Kind::Quarantine`] plus `error{error_code, description}` (Quarantine Failure).
    QuarantineFailure,
    /// `file` with its `parent`, no detection name (Executed malware, Potential Ransomware).
    FileParent,
    /// `file` with `attack_details` (Exploit Prevention).
    ExploitPrevention,
    /// `detection` and an Android package `file`.
    Apk,
    /// `cloud_ioc`, `start_timestamp`/`start_date`, `file` or `network_info`, tactics.
    CloudIoc,
    /// An application behaving as compromised: `file` (what it started or dropped) with
    /// the application as `parent`, and `command_line` when it launched a shell.
    Compromise,
    /// A network connection: `network_info{...}` (§4.4 `network_info`).
    Network(NetShape),
    /// `file` (the application) and `vulnerabilities[]`.
    Vulnerable,
    /// `isolation{...}` (§4.4 `isolation`).
    Isolation(IsoShape),
    /// `orbital{version, old_version}`.
    Orbital { update: bool },
    /// `bp_data{...}` (§4.4 `bp_data`; the connector update events).
    Update(UpdateShape),
    /// `threat_hunting{...}`, no `id`, no `group_guids`.
    ThreatHunting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ScanShape {
    /// `scan{description}`.
    Started,
    /// `scan{description, clean:true, scanned_*, malicious_detections:0}`.
    Clean,
    /// As `Clean` with `clean:false` and detections.
    Detections,
    /// `scan{description}` (the scan did not run).
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NetShape {
    /// Device Flow Correlation: a flow to a listed address, `detection`, the process.
    Dfc,
    /// A flow with its URL and the process (botnet, suspicious domain).
    Url,
    /// A flow seen on an iOS device: no process behind it.
    Ios,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IsoShape {
    /// `isolation{user}`.
    Start,
    /// `isolation{duration, user}` (XSOAR's captures show `duration` on Stop Success).
    Stop,
    /// `isolation{user, error_code}`.
    Failure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UpdateShape {
    Started,
    Completed,
    Failed,
}

/// How an event's `severity` is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sev {
    /// No `severity` key (Policy Update, File Fetch Completed, scans...).
    None,
    /// Low 10%, Medium 65%, High 25%.
    Mixed,
    /// High 80%, Medium 20%.
    High,
    /// High 70%, Critical 30%.
    HighCritical,
    Critical,
}

use IsoShape as I;
use Kind as K;
use NetShape as N;
use ScanShape as S;
use UpdateShape as U;

/// (event_type_id, weight, shape, severity), in the order of the reference table. The 17
/// types of the first generator keep their old proportions (their old weights × 9: 9,000 of
/// the 9,799) and the other types share the rest, rare ones at weight 1. Threat Quarantined and Quarantine Failure have
/// weight 0: they come as the twin of a Threat Detected (85% / 15%), sharing its
/// `detection_id`.
#[rustfmt::skip]
pub(super) const MIX: [(u32, u32, Kind, Sev); 110] = [
    // Account events: the reference gives no fields beyond the envelope.
    (1003, 2, K::Plain, Sev::None),        // Email Confirmation
    (1004, 2, K::Plain, Sev::None),        // Forgotten Password Reset
    (1005, 2, K::Plain, Sev::None),        // Password Has Been Reset
    (553648130, 1710, K::Plain, Sev::None), // Policy Update (fixture: envelope only)
    (553648135, 360, K::Update(U::Started), Sev::None),
    (553648136, 360, K::Update(U::Completed), Sev::None),
    (553648137, 15, K::Update(U::Failed), Sev::None),
    (553648143, 0, K::Quarantine, Sev::Mixed), // Threat Quarantined (twin)
    (553648145, 10, K::DetectionParent, Sev::Mixed), // Threat Detected in Exclusion
    (553648146, 4, K::Quarantine, Sev::Mixed), // Cloud Recall Restore of False Positive
    (553648147, 360, K::DetectionFull, Sev::High), // Retrospective Detection
    (553648149, 6, K::Quarantine, Sev::Mixed), // Quarantined Item Restored
    (553648150, 6, K::Quarantine, Sev::Mixed), // Quarantine Restore Started
    (553648151, 4, K::Quarantine, Sev::Mixed), // Attempting Quarantine Delete
    (553648152, 4, K::Quarantine, Sev::Mixed), // Quarantine Item Deleted
    (553648154, 3, K::Quarantine, Sev::Mixed), // Cloud Recall Restore from Quarantine
    (553648155, 10, K::Quarantine, Sev::Mixed), // Cloud Recall Quarantine Successful
    // Install/uninstall, reboots, IOC configuration: no fields beyond the envelope.
    (553648158, 15, K::Plain, Sev::None),  // Install Started
    (553648166, 6, K::Plain, Sev::None),   // Uninstall
    (553648168, 40, K::FileParent, Sev::High), // Execution Blocked
    (553648170, 135, K::Plain, Sev::None), // Reboot Pending
    (553648171, 60, K::Plain, Sev::None),  // Reboot Completed
    (553648173, 180, K::FileFetch, Sev::None), // File Fetch Completed (fixture)
    (553648176, 180, K::Plain, Sev::None), // Endpoint IOC Configuration Update Success
    (553648179, 315, K::Plain, Sev::None), // Endpoint IOC Definition Update Success
    // Faults: the reference documents no fault fields in events (only `computer.faults[]`
    // on /v1/computers), so these carry the envelope only, and no severity.
    (553648195, 12, K::Plain, Sev::None),  // Minor Fault Raised
    (553648196, 15, K::Plain, Sev::None),  // Fault Cleared
    (553648197, 6, K::Plain, Sev::None),   // All Fault(s) Cleared
    (553648199, 15, K::DetectionParent, Sev::High), // Malicious Activity Block
    (553648202, 8, K::Isolation(I::Start), Sev::None), // Endpoint Isolation Start Success
    (553648204, 8, K::Isolation(I::Stop), Sev::None),  // Endpoint Isolation Stop Success
    (553648206, 2, K::Isolation(I::Start), Sev::None), // Endpoint Isolation Update Success
    (553648208, 8, K::Orbital { update: false }, Sev::None), // Orbital Install Success
    (553648210, 10, K::Orbital { update: true }, Sev::None), // Orbital Update Success
    (553648215, 1, K::Isolation(I::Start), Sev::None), // Endpoint Isolation Unlock Limit Reached
    // "Threat Detection": only a code comment in one consumer (unverified): envelope only.
    (553648222, 1, K::Plain, Sev::Mixed),
    (554696714, 990, K::Scan(S::Started), Sev::None), // Scan Started
    (554696715, 900, K::Scan(S::Clean), Sev::None),   // Scan Completed, No Detections
    (554696756, 40, K::Scan(S::Started), Sev::None),  // Endpoint IOC Scan Started
    (554696757, 36, K::Scan(S::Clean), Sev::None),    // Endpoint IOC Scan Completed, No Detections
    (570425394, 6, K::Quarantine, Sev::Mixed), // Quarantine Restore Requested
    // Application (un)registration and (de)authorization: envelope only.
    (570425396, 3, K::Plain, Sev::None),
    (570425397, 3, K::Plain, Sev::None),
    (570425398, 3, K::Plain, Sev::None),
    (570425399, 3, K::Plain, Sev::None),
    (1090519054, 1620, K::ThreatDetected, Sev::Mixed), // Threat Detected (fixture)
    (1090519081, 3, K::DetectionFull, Sev::HighCritical), // Rootkit Detection
    (1090519084, 30, K::Network(N::Dfc), Sev::High), // DFC Threat Detected
    (1090519089, 8, K::Scan(S::Detections), Sev::Mixed), // Endpoint IOC Scan Detection Summary
    (1090519096, 20, K::Plain, Sev::None), // Update: Reboot Required (envelope only)
    (1090519097, 20, K::Plain, Sev::None), // Update: Reboot Advised (envelope only)
    (1090519102, 4, K::Network(N::Ios), Sev::High), // iOS Network Detection
    (1090519103, 225, K::ExploitPrevention, Sev::High), // Exploit Prevention
    (1090519105, 270, K::DetectionParent, Sev::HighCritical), // Malicious Activity Detection
    (1090519107, 6, K::Plain, Sev::None),  // Major Fault Raised (envelope only, see above)
    (1090519112, 15, K::FileParent, Sev::High), // System Process Protection
    (1090524040, 4, K::Apk, Sev::High),    // APK Threat Detected
    (1090524041, 2, K::Apk, Sev::Mixed),   // APK Custom Threat Detected
    (1091567628, 20, K::Scan(S::Detections), Sev::Mixed), // Scan Completed With Detections
    (1091567670, 8, K::Scan(S::Detections), Sev::Mixed), // Endpoint IOC Scan Completed With Detections
    // Indications of compromise (0x4200_0000 family).
    (1107296257, 8, K::Compromise, Sev::High),  // Potential Dropper Infection
    (1107296258, 10, K::Compromise, Sev::High), // Multiple Infected Files
    (1107296260, 3, K::Compromise, Sev::High),  // Java compromise
    (1107296261, 4, K::Compromise, Sev::High),  // Adobe Reader compromise
    (1107296262, 6, K::Compromise, Sev::High),  // Microsoft Word compromise
    (1107296263, 5, K::Compromise, Sev::High),  // Microsoft Excel compromise
    (1107296264, 2, K::Compromise, Sev::High),  // Microsoft PowerPoint compromise
    (1107296265, 2, K::Compromise, Sev::HighCritical), // Java launched a shell
    (1107296266, 3, K::Compromise, Sev::HighCritical), // Adobe Reader launched a shell
    (1107296267, 6, K::Compromise, Sev::HighCritical), // Microsoft Word launched a shell
    (1107296268, 4, K::Compromise, Sev::HighCritical), // Microsoft Excel launched a shell
    (1107296269, 2, K::Compromise, Sev::HighCritical), // Microsoft PowerPoint launched a shell
    (1107296270, 1, K::Compromise, Sev::High),  // Apple QuickTime compromise
    (1107296271, 1, K::Compromise, Sev::HighCritical), // Apple QuickTime launched a shell
    (1107296272, 360, K::FileParent, Sev::High), // Executed malware
    (1107296273, 12, K::Network(N::Url), Sev::HighCritical), // Suspected botnet connection
    (1107296274, 855, K::CloudIoc, Sev::Mixed), // Cloud IOC (fixtures)
    (1107296275, 1, K::Compromise, Sev::High),  // Microsoft Calculator compromise
    (1107296276, 1, K::Compromise, Sev::High),  // Microsoft Notepad compromise
    (1107296277, 20, K::Network(N::Url), Sev::High), // Connection to suspicious domain
    (1107296278, 15, K::Compromise, Sev::High), // Threat Detected in Low Prevalence Executable
    (1107296279, 80, K::Vulnerable, Sev::Mixed), // Vulnerable Application Detected
    (1107296280, 15, K::Compromise, Sev::High), // Suspicious Download
    (1107296281, 3, K::Compromise, Sev::High),  // Microsoft CHM Compromise
    (1107296282, 8, K::Compromise, Sev::High),  // Suspicious Cscript Launch
    (1107296283, 3, K::Compromise, Sev::Critical), // Possible Webshell
    (1107296284, 162, K::FileParent, Sev::Critical), // Potential Ransomware
    (1107296285, 4, K::Plain, Sev::High),  // Cognitive Incident: envelope only (no shape known)
    (1107296344, 18, K::ThreatHunting, Sev::Critical), // SecureX Threat Hunting Incident (fixture)
    // Failures (0x8100_0000 family).
    (2164260866, 10, K::Plain, Sev::None), // Policy Update Failure (envelope only)
    (2164260880, 0, K::QuarantineFailure, Sev::Mixed), // Quarantine Failure (twin; fixture)
    (2164260884, 2, K::Quarantine, Sev::Mixed), // Quarantine Restore Failed
    (2164260889, 2, K::Quarantine, Sev::Mixed), // Failed to Delete From Quarantine
    (2164260892, 1, K::Quarantine, Sev::Mixed), // Cloud Recall Restore from Quarantine Failed
    (2164260893, 4, K::Quarantine, Sev::Mixed), // Cloud Recall Quarantine Attempt Failed
    (2164260895, 4, K::Plain, Sev::None),  // Install Failure (envelope only)
    (2164260903, 2, K::Plain, Sev::None),  // Uninstall Failure (envelope only)
    (2164260910, 5, K::FileFetch, Sev::None), // File Fetch Failed
    (2164260911, 5, K::Plain, Sev::None),  // Endpoint IOC Configuration Update Failure
    (2164260914, 5, K::Plain, Sev::None),  // Endpoint IOC Definition Update Failure
    (2164260922, 4, K::Plain, Sev::None),  // Update: Unexpected Reboot Required
    (2164260931, 3, K::Plain, Sev::None),  // Critical Fault Raised (envelope only, see above)
    (2164260939, 1, K::Isolation(I::Failure), Sev::None), // Endpoint Isolation Start Failure
    (2164260941, 1, K::Isolation(I::Failure), Sev::None), // Endpoint Isolation Stop Failure
    (2164260943, 1, K::Isolation(I::Failure), Sev::None), // Endpoint Isolation Update Failure
    (2164260945, 2, K::Orbital { update: false }, Sev::None), // Orbital Install Failure
    (2164260947, 2, K::Orbital { update: true }, Sev::None),  // Orbital Update Failure
    (2165309453, 10, K::Scan(S::Failed), Sev::None), // Scan Failed
    (2165309495, 4, K::Scan(S::Failed), Sev::None),  // Endpoint IOC Scan Failed
    (2181038130, 3, K::Quarantine, Sev::Mixed), // Quarantine Request Failed to be Delivered
];

/// The shape and severity of a type, if the reference table has it.
pub(super) fn kind_of(type_id: u32) -> Option<(Kind, Sev)> {
    MIX.iter()
        .find(|(id, ..)| *id == type_id)
        .map(|&(_, _, k, s)| (k, s))
}

pub(super) const THREAT_QUARANTINED: u32 = 553648143;
pub(super) const QUARANTINE_FAILURE: u32 = 2164260880;
