//! Rules on names shared by every section: tenant, source and sink names, group GUIDs.

pub(crate) const NAME_RULE: &str = "1 to 64 characters of a-z, 0-9, `_` and `-`";

/// Names of tenants, sources and sinks (they end up in keys, labels and file names).
pub(crate) fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

pub(crate) fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}
