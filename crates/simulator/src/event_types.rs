//! The `GET /v1/event_types` table (reference §3.1, which is a dump of the real endpoint).
//!
//! Only four descriptions are known verbatim (Scan Started, Scan Failed, Threat Detected,
//! Threat Quarantined); the others are short descriptions written for the simulator.
//! 553648147 is served as "Retrospective Detection", the name seen in 2021 event data
//! (older dumps call it "Cloud Recall Detection"); clients must key on the id anyway.

/// One entry of `GET /v1/event_types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventType {
    /// `event_type_id`.
    pub id: u32,
    /// Display name, as found in events' `event_type`.
    pub name: &'static str,
    /// Human description.
    pub description: &'static str,
}

const fn t(id: u32, name: &'static str, description: &'static str) -> EventType {
    EventType {
        id,
        name,
        description,
    }
}

/// All event types the simulator knows, in the order of the reference table.
pub const EVENT_TYPES: &[EventType] = &[
    t(
        1003,
        "Email Confirmation",
        "A user confirmed their email address.",
    ),
    t(
        1004,
        "Forgotten Password Reset",
        "A user requested a password reset.",
    ),
    t(
        1005,
        "Password Has Been Reset",
        "A user's password has been reset.",
    ),
    t(
        553648130,
        "Policy Update",
        "The connector received a policy update.",
    ),
    t(
        553648135,
        "Product Update Started",
        "A connector update has started.",
    ),
    t(
        553648136,
        "Product Update Completed",
        "A connector update has completed.",
    ),
    t(
        553648137,
        "Product Update Failed",
        "A connector update has failed.",
    ),
    t(
        553648143,
        "Threat Quarantined",
        "A threat was successfully quarantined.",
    ),
    t(
        553648145,
        "Threat Detected in Exclusion",
        "A threat was detected in an excluded path.",
    ),
    t(
        553648146,
        "Cloud Recall Restore of False Positive",
        "A file falsely detected was restored by Cloud Recall.",
    ),
    t(
        553648147,
        "Retrospective Detection",
        "A file previously seen was later found to be malicious.",
    ),
    t(
        553648149,
        "Quarantined Item Restored",
        "A quarantined item was restored.",
    ),
    t(
        553648150,
        "Quarantine Restore Started",
        "A quarantine restore has started.",
    ),
    t(
        553648151,
        "Attempting Quarantine Delete",
        "The connector is attempting to delete a quarantined item.",
    ),
    t(
        553648152,
        "Quarantine Item Deleted",
        "A quarantined item was deleted.",
    ),
    t(
        553648154,
        "Cloud Recall Restore from Quarantine",
        "Cloud Recall restored a file from quarantine.",
    ),
    t(
        553648155,
        "Cloud Recall Quarantine Successful",
        "Cloud Recall quarantined a file.",
    ),
    t(
        553648158,
        "Install Started",
        "A connector install has started.",
    ),
    t(553648166, "Uninstall", "The connector was uninstalled."),
    t(
        553648168,
        "Execution Blocked",
        "Execution of an application was blocked.",
    ),
    t(553648170, "Reboot Pending", "The computer needs a reboot."),
    t(553648171, "Reboot Completed", "The computer was rebooted."),
    t(
        553648173,
        "File Fetch Completed",
        "A requested file was fetched from the computer.",
    ),
    t(
        553648176,
        "Endpoint IOC Configuration Update Success",
        "The Endpoint IOC configuration was updated.",
    ),
    t(
        553648179,
        "Endpoint IOC Definition Update Success",
        "The Endpoint IOC definitions were updated.",
    ),
    t(
        553648195,
        "Minor Fault Raised",
        "The connector raised a minor fault.",
    ),
    t(553648196, "Fault Cleared", "A connector fault was cleared."),
    t(
        553648197,
        "All Fault(s) Cleared",
        "All connector faults were cleared.",
    ),
    t(
        553648199,
        "Malicious Activity Block",
        "Malicious activity was blocked.",
    ),
    t(
        553648202,
        "Endpoint Isolation Start Success",
        "The computer was isolated.",
    ),
    t(
        553648204,
        "Endpoint Isolation Stop Success",
        "Isolation of the computer was stopped.",
    ),
    t(
        553648206,
        "Endpoint Isolation Update Success",
        "The isolation settings of the computer were updated.",
    ),
    t(
        553648208,
        "Orbital Install Success",
        "Orbital was installed.",
    ),
    t(553648210, "Orbital Update Success", "Orbital was updated."),
    t(
        553648215,
        "Endpoint Isolation Unlock Limit Reached",
        "Too many failed attempts to unlock an isolated computer.",
    ),
    t(553648222, "Threat Detection", "A threat was detected."),
    t(554696714, "Scan Started", "An agent has started scanning."),
    t(
        554696715,
        "Scan Completed, No Detections",
        "A scan completed without finding threats.",
    ),
    t(
        554696756,
        "Endpoint IOC Scan Started",
        "An Endpoint IOC scan has started.",
    ),
    t(
        554696757,
        "Endpoint IOC Scan Completed, No Detections",
        "An Endpoint IOC scan completed without detections.",
    ),
    t(
        570425394,
        "Quarantine Restore Requested",
        "A restore from quarantine was requested.",
    ),
    t(
        570425396,
        "Application Registered",
        "An application was registered.",
    ),
    t(
        570425397,
        "Application Deregistered",
        "An application was deregistered.",
    ),
    t(
        570425398,
        "Application Authorized",
        "An application was authorized.",
    ),
    t(
        570425399,
        "Application Deauthorized",
        "An application was deauthorized.",
    ),
    t(
        1090519054,
        "Threat Detected",
        "A threat was found on this system.",
    ),
    t(1090519081, "Rootkit Detection", "A rootkit was detected."),
    t(
        1090519084,
        "DFC Threat Detected",
        "Device Flow Correlation detected a connection to a malicious host.",
    ),
    t(
        1090519089,
        "Endpoint IOC Scan Detection Summary",
        "An Endpoint IOC scan found matches.",
    ),
    t(
        1090519096,
        "Update: Reboot Required",
        "A reboot is required to complete an update.",
    ),
    t(
        1090519097,
        "Update: Reboot Advised",
        "A reboot is advised to complete an update.",
    ),
    t(
        1090519102,
        "iOS Network Detection",
        "A malicious network connection was detected on an iOS device.",
    ),
    t(
        1090519103,
        "Exploit Prevention",
        "An exploit attempt was prevented.",
    ),
    t(
        1090519105,
        "Malicious Activity Detection",
        "Malicious activity was detected.",
    ),
    t(
        1090519107,
        "Major Fault Raised",
        "The connector raised a major fault.",
    ),
    t(
        1090519112,
        "System Process Protection",
        "A system process was protected.",
    ),
    t(
        1090524040,
        "APK Threat Detected",
        "A malicious Android application was detected.",
    ),
    t(
        1090524041,
        "APK Custom Threat Detected",
        "An Android application on a custom list was detected.",
    ),
    t(
        1091567628,
        "Scan Completed With Detections",
        "A scan completed and found threats.",
    ),
    t(
        1091567670,
        "Endpoint IOC Scan Completed With Detections",
        "An Endpoint IOC scan completed with detections.",
    ),
    t(
        1107296257,
        "Potential Dropper Infection",
        "A file created other malicious files.",
    ),
    t(
        1107296258,
        "Multiple Infected Files",
        "Several infected files were found on the computer.",
    ),
    t(
        1107296260,
        "Java compromise",
        "Java behaved like a compromised application.",
    ),
    t(
        1107296261,
        "Adobe Reader compromise",
        "Adobe Reader behaved like a compromised application.",
    ),
    t(
        1107296262,
        "Microsoft Word compromise",
        "Microsoft Word behaved like a compromised application.",
    ),
    t(
        1107296263,
        "Microsoft Excel compromise",
        "Microsoft Excel behaved like a compromised application.",
    ),
    t(
        1107296264,
        "Microsoft PowerPoint compromise",
        "Microsoft PowerPoint behaved like a compromised application.",
    ),
    t(
        1107296265,
        "Java launched a shell",
        "Java launched a command shell.",
    ),
    t(
        1107296266,
        "Adobe Reader launched a shell",
        "Adobe Reader launched a command shell.",
    ),
    t(
        1107296267,
        "Microsoft Word launched a shell",
        "Microsoft Word launched a command shell.",
    ),
    t(
        1107296268,
        "Microsoft Excel launched a shell",
        "Microsoft Excel launched a command shell.",
    ),
    t(
        1107296269,
        "Microsoft PowerPoint launched a shell",
        "Microsoft PowerPoint launched a command shell.",
    ),
    t(
        1107296270,
        "Apple QuickTime compromise",
        "Apple QuickTime behaved like a compromised application.",
    ),
    t(
        1107296271,
        "Apple QuickTime launched a shell",
        "Apple QuickTime launched a command shell.",
    ),
    t(
        1107296272,
        "Executed malware",
        "A known malicious file was executed.",
    ),
    t(
        1107296273,
        "Suspected botnet connection",
        "A connection to a suspected botnet host was made.",
    ),
    t(
        1107296274,
        "Cloud IOC",
        "Activity matching a cloud indicator of compromise was seen.",
    ),
    t(
        1107296275,
        "Microsoft Calculator compromise",
        "Calculator behaved like a compromised application.",
    ),
    t(
        1107296276,
        "Microsoft Notepad compromise",
        "Notepad behaved like a compromised application.",
    ),
    t(
        1107296277,
        "Connection to suspicious domain",
        "A connection to a suspicious domain was made.",
    ),
    t(
        1107296278,
        "Threat Detected in Low Prevalence Executable",
        "A rarely seen executable was found to be malicious.",
    ),
    t(
        1107296279,
        "Vulnerable Application Detected",
        "An application with known vulnerabilities was seen.",
    ),
    t(
        1107296280,
        "Suspicious Download",
        "A suspicious file was downloaded.",
    ),
    t(
        1107296281,
        "Microsoft CHM Compromise",
        "A compiled HTML help file behaved maliciously.",
    ),
    t(
        1107296282,
        "Suspicious Cscript Launch",
        "Cscript was launched in a suspicious way.",
    ),
    t(
        1107296283,
        "Possible Webshell",
        "A web server process behaved like a webshell.",
    ),
    t(
        1107296284,
        "Potential Ransomware",
        "Behaviour typical of ransomware was seen.",
    ),
    t(
        1107296285,
        "Cognitive Incident",
        "Cognitive Threat Analytics reported an incident.",
    ),
    t(
        1107296344,
        "SecureX Threat Hunting Incident",
        "Threat hunters found an incident on this computer.",
    ),
    t(
        2164260866,
        "Policy Update Failure",
        "The connector failed to apply a policy update.",
    ),
    t(
        2164260880,
        "Quarantine Failure",
        "A threat could not be quarantined.",
    ),
    t(
        2164260884,
        "Quarantine Restore Failed",
        "A restore from quarantine failed.",
    ),
    t(
        2164260889,
        "Failed to Delete From Quarantine",
        "A quarantined item could not be deleted.",
    ),
    t(
        2164260892,
        "Cloud Recall Restore from Quarantine Failed",
        "Cloud Recall could not restore a file from quarantine.",
    ),
    t(
        2164260893,
        "Cloud Recall Quarantine Attempt Failed",
        "Cloud Recall could not quarantine a file.",
    ),
    t(2164260895, "Install Failure", "A connector install failed."),
    t(
        2164260903,
        "Uninstall Failure",
        "A connector uninstall failed.",
    ),
    t(
        2164260910,
        "File Fetch Failed",
        "A requested file could not be fetched.",
    ),
    t(
        2164260911,
        "Endpoint IOC Configuration Update Failure",
        "The Endpoint IOC configuration could not be updated.",
    ),
    t(
        2164260914,
        "Endpoint IOC Definition Update Failure",
        "The Endpoint IOC definitions could not be updated.",
    ),
    t(
        2164260922,
        "Update: Unexpected Reboot Required",
        "An update unexpectedly requires a reboot.",
    ),
    t(
        2164260931,
        "Critical Fault Raised",
        "The connector raised a critical fault.",
    ),
    t(
        2164260939,
        "Endpoint Isolation Start Failure",
        "The computer could not be isolated.",
    ),
    t(
        2164260941,
        "Endpoint Isolation Stop Failure",
        "Isolation of the computer could not be stopped.",
    ),
    t(
        2164260943,
        "Endpoint Isolation Update Failure",
        "The isolation settings could not be updated.",
    ),
    t(
        2164260945,
        "Orbital Install Failure",
        "Orbital could not be installed.",
    ),
    t(
        2164260947,
        "Orbital Update Failure",
        "Orbital could not be updated.",
    ),
    t(
        2165309453,
        "Scan Failed",
        "A scan has been attempted, and failed to run.",
    ),
    t(
        2165309495,
        "Endpoint IOC Scan Failed",
        "An Endpoint IOC scan failed.",
    ),
    t(
        2181038130,
        "Quarantine Request Failed to be Delivered",
        "A quarantine request could not be delivered to the computer.",
    ),
];

/// Looks up an event type by id.
pub fn event_type(id: u32) -> Option<&'static EventType> {
    EVENT_TYPES.iter().find(|t| t.id == id)
}

/// The display name of an event type id ("Unknown" if the table lacks it).
pub(crate) fn name_of(id: u32) -> &'static str {
    event_type(id).map(|t| t.name).unwrap_or("Unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_unique_and_known() {
        let mut ids: Vec<u32> = EVENT_TYPES.iter().map(|t| t.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), EVENT_TYPES.len());
        assert_eq!(name_of(1090519054), "Threat Detected");
        assert_eq!(name_of(1107296344), "SecureX Threat Hunting Incident");
    }
}
