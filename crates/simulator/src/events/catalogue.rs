//! The static catalogue events are drawn from: threats, parent processes, IOCs, quarantine
//! errors, MITRE ATT&CK objects, and (in `catalogue_more.rs`) compromised applications,
//! network destinations, vulnerable applications, Android packages and agent versions. The
//! event-type mix is in `mix.rs`.

use std::sync::Arc;

/// Static catalogue of threats: (detection name, file name, Windows path).
pub(super) const THREATS: [(&str, &str, &str); 12] = [
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
pub(super) const PARENTS: [&str; 6] = [
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
pub(super) const IOCS: [IocSpec; 6] = [
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

pub(super) const QUARANTINE_ERRORS: [(u64, &str); 4] = [
    (3221225524, "Object name not found"),
    (3221225530, "Object path not found"),
    (3221225558, "Delete pending"),
    (3221225761, "Cannot delete"),
];

/// A file known to the tenant, with its pre-serialized `,"file":{...}}` tails.
#[derive(Debug)]
pub(super) struct Threat {
    pub(crate) detection: &'static str,
    pub(crate) sha256: Arc<str>,
    pub(crate) parent_sha256: Arc<str>,
    /// name, path, full identity, parent.
    pub(crate) tail_parent: Arc<str>,
    /// name, path, full identity, no parent.
    pub(crate) tail_full: Arc<str>,
    /// disposition + sha256 only.
    pub(crate) tail_min: Arc<str>,
    /// full file with `attack_details`.
    pub(crate) tail_exploit: Arc<str>,
}

#[derive(Debug)]
pub(super) struct Ioc {
    pub(crate) file_sha256: Option<Arc<str>>,
    pub(crate) parent_sha256: Arc<str>,
    pub(crate) tail: Arc<str>,
}

#[derive(Debug, Clone)]
pub(super) struct ParentFile {
    pub(crate) name: &'static str,
    pub(crate) sha256: String,
    pub(crate) sha1: String,
    pub(crate) md5: String,
}

pub(super) const MITRE_TACTIC: &str = r#"{"name":"Defense Evasion","description":"<p>The adversary is trying to avoid being detected.</p>\n","external_id":"TA0005","mitre_name":"tactic","mitre_url":"https://attack.mitre.org/tactics/TA0005"}"#;
pub(super) const MITRE_TECHNIQUE: &str = r#"{"name":"Scheduled Task/Job","description":"<p>Adversaries may abuse task scheduling functionality to facilitate initial or recurring execution of malicious code.</p>\n","external_id":"T1053","mitre_name":"technique","mitre_url":"https://attack.mitre.org/techniques/T1053","tactics_names":"Execution, Persistence, Privilege Escalation","platforms":"Windows, Linux, macOS","system_requirements":null,"permissions":"Administrator, SYSTEM, User","data_sources":"File monitoring, Process monitoring"}"#;
