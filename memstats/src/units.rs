//! Byte sizes as people write them: `512MiB`, `512MB`, `2GiB`, `1536k`,
//! always with a unit: a bare `512` is refused, as nobody who writes it means
//! 512 bytes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A size in bytes that parses from and prints as a human size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "SizeRepr", into = "u64")]
pub struct ByteSize(pub u64);

#[derive(Deserialize)]
#[serde(untagged)]
enum SizeRepr {
    Number(u64),
    Text(String),
}

impl TryFrom<SizeRepr> for ByteSize {
    type Error = SizeError;
    /// A bare number in a file is refused like one on the command line: a
    /// key that takes a size takes it as a string with a unit.
    fn try_from(r: SizeRepr) -> Result<Self, SizeError> {
        match r {
            SizeRepr::Number(n) => Err(SizeError::NoUnit {
                input: n.to_string(),
            }),
            SizeRepr::Text(t) => t.parse(),
        }
    }
}

impl From<ByteSize> for u64 {
    fn from(b: ByteSize) -> u64 {
        b.0
    }
}

/// Why a size did not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SizeError {
    /// A number without a unit, e.g. `512`.
    #[error(
        "`{input}` has no unit: write {input}MiB (or {input}GiB, {input}KiB; {input}B for bytes)"
    )]
    NoUnit {
        /// What was written.
        input: String,
    },
    /// Not a number with a known unit.
    #[error(
        "`{input}` is not a size: write a number with a unit, such as 512MiB, 512MB, 2GiB or 1024B"
    )]
    NotASize {
        /// What was written.
        input: String,
    },
}

/// Parse `512MiB`, `512 MB`, `2G`, `1024B`. `MB` and `M` follow the hosting
/// platforms' usage and mean MiB: Render's "512MB" plan is 512 MiB. `kB`,
/// `KiB`, `k` are 1024 bytes likewise. A number without a unit is refused
/// ([`SizeError::NoUnit`]): `--limit 512` meant as 512 bytes is a mistake
/// nobody makes on purpose, and read as bytes it kills the server at once.
pub fn parse_bytes(input: &str) -> Result<u64, SizeError> {
    let err = || SizeError::NotASize {
        input: input.to_string(),
    };
    let s = input.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().map_err(|_| err())?;
    if !value.is_finite() || value < 0.0 {
        return Err(err());
    }
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" => {
            return Err(SizeError::NoUnit {
                input: s.to_string(),
            });
        }
        "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(err()),
    };
    let bytes = value * mult as f64;
    if bytes > u64::MAX as f64 {
        return Err(err());
    }
    Ok(bytes.round() as u64)
}

impl FromStr for ByteSize {
    type Err = SizeError;
    fn from_str(s: &str) -> Result<Self, SizeError> {
        parse_bytes(s).map(ByteSize)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        if b >= 1 << 30 && b.is_multiple_of(1 << 30) {
            write!(f, "{}GiB", b >> 30)
        } else if b >= 1 << 20 && b.is_multiple_of(1 << 20) {
            write!(f, "{}MiB", b >> 20)
        } else if b >= 1 << 10 && b.is_multiple_of(1 << 10) {
            write!(f, "{}KiB", b >> 10)
        } else {
            write!(f, "{b}B")
        }
    }
}

/// The label of [`format_mb`]'s figures: binary megabytes, 1,048,576 bytes.
/// Every report writes memory in this one unit, with this one label.
pub const MIB: &str = "MiB";

/// Bytes as MiB with one decimal, the unit every oomlab report uses (labelled
/// [`MIB`]; the platforms' "512MB" is the same 512 MiB).
pub fn format_mb(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1u64 << 20) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("512MB"), Ok(512 << 20));
        assert_eq!(parse_bytes("512 mb"), Ok(512 << 20));
        assert_eq!(parse_bytes("2G"), Ok(2 << 30));
        assert_eq!(parse_bytes("1.5k"), Ok(1536));
        assert_eq!(parse_bytes("1048576B"), Ok(1 << 20));
    }

    #[test]
    fn a_size_without_a_unit_is_refused_with_the_unit_to_add() {
        let e = parse_bytes("512").unwrap_err();
        assert_eq!(
            e,
            SizeError::NoUnit {
                input: "512".into()
            }
        );
        assert!(e.to_string().contains("write 512MiB"), "{e}");
        assert!(matches!(
            parse_bytes(" 1.5 "),
            Err(SizeError::NoUnit { .. })
        ));
    }

    #[test]
    fn a_size_key_in_a_file_takes_a_unit_too() {
        #[derive(Deserialize)]
        struct File {
            ram: ByteSize,
        }
        let ok: File = serde_json::from_str(r#"{"ram": "512MB"}"#).unwrap();
        assert_eq!(ok.ram, ByteSize(512 << 20));
        let e = serde_json::from_str::<File>(r#"{"ram": 512}"#)
            .err()
            .unwrap();
        assert!(e.to_string().contains("write 512MiB"), "{e}");
    }

    #[test]
    fn bad_sizes_are_refused_with_an_example() {
        let e = parse_bytes("lots").unwrap_err();
        assert!(matches!(e, SizeError::NotASize { .. }));
        assert!(e.to_string().contains("512MiB"));
        assert!(parse_bytes("12 parsecs").is_err());
        assert!(parse_bytes("-1MB").is_err());
        assert!(parse_bytes("").is_err());
    }

    #[test]
    fn sizes_print_back_in_their_unit() {
        assert_eq!(ByteSize(512 << 20).to_string(), "512MiB");
        assert_eq!(ByteSize(2 << 30).to_string(), "2GiB");
        assert_eq!(ByteSize(1000).to_string(), "1000B");
        assert_eq!(format_mb(3 << 19), "1.5");
    }
}
