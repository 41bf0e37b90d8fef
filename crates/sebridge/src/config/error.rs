//! Configuration problems, each with the place in the file it concerns.

use std::fmt;
use std::path::PathBuf;

/// One problem in a configuration file.
///
/// Displays as `<file>:<line>:<column>: <message>` (1-based; the column counts characters),
/// or `<file>: <message>` when the problem has no place in the file (unreadable file,
/// missing section). Messages never contain secret values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", Location(self))]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

/// The `<file>:<line>:<col>: ` prefix of a [`ConfigError`].
struct Location<'a>(&'a ConfigError);

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        write!(f, "{}", e.file.display())?;
        if let Some(line) = e.line {
            write!(f, ":{line}")?;
            if let Some(column) = e.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")
    }
}

/// Every problem found in a configuration file (never empty when returned as an error),
/// ordered by position. Displays one problem per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Lines(&self.0))]
pub struct ConfigErrors(pub Vec<ConfigError>);

struct Lines<'a>(&'a [ConfigError]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl ConfigErrors {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(line: Option<usize>, column: Option<usize>) -> ConfigError {
        ConfigError {
            file: PathBuf::from("conf/sebridge.toml"),
            line,
            column,
            message: "something is wrong".into(),
        }
    }

    #[test]
    fn display_has_location_when_known() {
        assert_eq!(
            err(Some(3), Some(7)).to_string(),
            "conf/sebridge.toml:3:7: something is wrong"
        );
        assert_eq!(
            err(Some(3), None).to_string(),
            "conf/sebridge.toml:3: something is wrong"
        );
        assert_eq!(
            err(None, None).to_string(),
            "conf/sebridge.toml: something is wrong"
        );
    }

    #[test]
    fn errors_display_one_per_line() {
        let all = ConfigErrors(vec![err(Some(1), Some(1)), err(None, None)]);
        assert_eq!(
            all.to_string(),
            "conf/sebridge.toml:1:1: something is wrong\nconf/sebridge.toml: something is wrong"
        );
    }
}
