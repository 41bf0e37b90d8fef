//! Defaults of `[incidents]`, as documented in `config/example.toml`.

use std::time::Duration;
pub const WINDOW: Duration = Duration::from_secs(3600);
pub const NOTE_INTERVAL: Duration = Duration::from_secs(60);
pub const MAX_EVENT_AGE: Duration = Duration::from_secs(24 * 3600);
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(60);
pub const BATCH_SIZE: usize = 500;
pub const CONCURRENCY: usize = 16;
pub const PREFIX: &str = "sebridge";
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
pub const TABLE: &str = "incident";
pub const MAX_SKEW: Duration = Duration::from_secs(300);
pub const RULE_NAME: &str = "high-priority";

/// The public SecureX MSSP sample's "high priority" event types ("all events which require
/// human investigation"): the default rule.
pub const SAMPLE_HIGH_PRIORITY_TYPES: [u64; 36] = [
    1090519054, 2164260880, 2164260893, 1090524040, 1090524041, 1090519084, 1107296257, 1107296258,
    1107296261, 1107296262, 1107296263, 1107296264, 1107296266, 1107296267, 1107296268, 1107296269,
    1107296270, 1107296271, 1107296272, 1107296273, 1107296274, 1107296275, 1107296276, 1091567670,
    1107296277, 1107296278, 1107296280, 1107296281, 1107296282, 1107296284, 1107296283, 2164260931,
    1090519081, 1090519105, 1090519102, 553648215,
];
