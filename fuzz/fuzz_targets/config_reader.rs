//! Any text as a config file: a config or a list of problems, each with a message and a
//! place inside the text when it has one; never a panic. As `crates/sebridge/src/config/props.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sebridge::config::Config;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // `${NAME}` references: some set (one to itself, to check it is not expanded again).
    let env = |name: &str| match name.len() % 3 {
        0 => None,
        1 => Some(format!("value-of-{name}")),
        _ => Some(format!("${{{name}}}")),
    };
    let path = Path::new("/etc/sebridge/sebridge.toml");
    if let Err(errors) = Config::from_str_with_env(text, path, &env) {
        assert!(!errors.is_empty());
        let lines: Vec<&str> = text.split('\n').collect();
        for e in &errors {
            assert!(!e.message.trim().is_empty());
            if let Some(line) = e.line {
                assert!(line >= 1 && line <= lines.len());
                if let Some(col) = e.column {
                    assert!(col >= 1 && col <= lines[line - 1].chars().count() + 1);
                }
            } else {
                assert!(e.column.is_none());
            }
        }
    }
});
