//! Regional API hosts of the Secure Endpoint cloud.

use std::fmt;
use std::str::FromStr;

/// A Secure Endpoint cloud region. Each region is a separate cloud with its own API host;
/// credentials of one region are unknown in the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    /// North America: `https://api.amp.cisco.com`.
    Us,
    /// Europe: `https://api.eu.amp.cisco.com`.
    Eu,
    /// Asia Pacific, Japan and China: `https://api.apjc.amp.cisco.com`.
    Apjc,
}

impl Region {
    /// All regions, in display order.
    pub const ALL: [Region; 3] = [Region::Us, Region::Eu, Region::Apjc];

    /// The REST API base URL of the region (no trailing slash).
    pub fn api_base(self) -> &'static str {
        match self {
            Region::Us => "https://api.amp.cisco.com",
            Region::Eu => "https://api.eu.amp.cisco.com",
            Region::Apjc => "https://api.apjc.amp.cisco.com",
        }
    }

    /// The Event Streams (AMQP over TLS) host of the region.
    pub fn streaming_host(self) -> &'static str {
        match self {
            Region::Us => "export-streaming.amp.cisco.com",
            Region::Eu => "export-streaming.eu.amp.cisco.com",
            Region::Apjc => "export-streaming.apjc.amp.cisco.com",
        }
    }

    /// The region's short name as used in configuration (`us`, `eu`, `apjc`).
    pub fn as_str(self) -> &'static str {
        match self {
            Region::Us => "us",
            Region::Eu => "eu",
            Region::Apjc => "apjc",
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for an unknown region name.
#[derive(Debug, thiserror::Error)]
#[error("unknown region {0:?}: expected one of \"us\", \"eu\", \"apjc\"")]
pub struct UnknownRegion(pub String);

impl FromStr for Region {
    type Err = UnknownRegion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // "na" and "nam" are how Cisco's own docs name the US cloud; accept them too.
        match s.trim().to_ascii_lowercase().as_str() {
            "us" | "na" | "nam" | "north-america" => Ok(Region::Us),
            "eu" | "europe" => Ok(Region::Eu),
            "apjc" | "asia" => Ok(Region::Apjc),
            _ => Err(UnknownRegion(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_hosts() {
        assert_eq!("EU".parse::<Region>().unwrap(), Region::Eu);
        assert_eq!(
            "apjc".parse::<Region>().unwrap().api_base(),
            "https://api.apjc.amp.cisco.com"
        );
        assert!("mars".parse::<Region>().is_err());
        assert_eq!(
            Region::Us.streaming_host(),
            "export-streaming.amp.cisco.com"
        );
    }
}
