//! `data:` URIs as the SDKs send base64 files (`data:image/png;base64,...`),
//! decoded from one file on disk to another in bounded memory.
//!
//! A small decoder of its own rather than a crate: it streams, skips the
//! line breaks some encoders insert, and accepts the URL-safe alphabet.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

/// What the header of a data URI said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataUri {
    /// The media type (`image/png`), if given.
    pub mime: Option<String>,
    /// Decoded bytes written.
    pub bytes: u64,
}

/// Why a data URI could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DataUriError {
    /// Not `data:[mime][;k=v]*;base64,`.
    #[error("Invalid data URI: {0}")]
    Invalid(String),
    /// Decoded size over the cap.
    #[error("Invalid data URI: decoded file larger than {0} bytes")]
    TooLarge(u64),
    /// Reading or writing the files.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Longest header accepted, bytes (`data:` to the comma).
const MAX_HEADER: usize = 1024;

/// Decode the data URI in `src` into `dst`, at most `max_bytes` decoded.
pub fn decode_file(src: &Path, dst: &Path, max_bytes: u64) -> Result<DataUri, DataUriError> {
    let mut input = BufReader::with_capacity(64 * 1024, std::fs::File::open(src)?);
    let mime = read_header(&mut input)?;
    let mut output = BufWriter::with_capacity(64 * 1024, std::fs::File::create(dst)?);
    let mut decoder = Decoder::default();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut out = Vec::with_capacity(48 * 1024 + 3);
    let mut written = 0u64;
    loop {
        let n = input.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        out.clear();
        decoder.feed(&chunk[..n], &mut out)?;
        written += out.len() as u64;
        if written > max_bytes {
            return Err(DataUriError::TooLarge(max_bytes));
        }
        output.write_all(&out)?;
    }
    out.clear();
    decoder.finish(&mut out)?;
    written += out.len() as u64;
    output.write_all(&out)?;
    output.flush()?;
    Ok(DataUri {
        mime,
        bytes: written,
    })
}

/// Read `data:...;base64,` and return the media type.
fn read_header(input: &mut impl Read) -> Result<Option<String>, DataUriError> {
    let mut header = Vec::new();
    let mut byte = [0u8];
    loop {
        if input.read(&mut byte)? == 0 {
            return Err(DataUriError::Invalid("no comma after the header".into()));
        }
        if byte[0] == b',' {
            break;
        }
        header.push(byte[0]);
        if header.len() > MAX_HEADER {
            return Err(DataUriError::Invalid("header too long".into()));
        }
    }
    let header = String::from_utf8(header)
        .map_err(|_| DataUriError::Invalid("header is not text".into()))?;
    let rest = header
        .strip_prefix("data:")
        .ok_or_else(|| DataUriError::Invalid("does not start with data:".into()))?;
    let mut parts = rest.split(';');
    let mime = parts.next().filter(|m| !m.is_empty()).map(str::to_string);
    if parts.next_back() != Some("base64") {
        return Err(DataUriError::Invalid(
            "only base64 data URIs are supported (data:<type>;base64,...)".into(),
        ));
    }
    Ok(mime)
}

/// Streaming base64: four symbols to three bytes, whitespace skipped,
/// padding ends the data.
#[derive(Default)]
struct Decoder {
    quad: [u8; 4],
    filled: usize,
    padded: bool,
}

impl Decoder {
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), DataUriError> {
        for &c in input {
            let value = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' | b'-' => 62,
                b'/' | b'_' => 63,
                b'=' => {
                    self.padded = true;
                    continue;
                }
                b'\r' | b'\n' | b' ' | b'\t' => continue,
                other => {
                    return Err(DataUriError::Invalid(format!(
                        "byte {other:#04x} is not base64"
                    )));
                }
            };
            if self.padded {
                return Err(DataUriError::Invalid("data after padding".into()));
            }
            self.quad[self.filled] = value;
            self.filled += 1;
            if self.filled == 4 {
                let [a, b, c, d] = self.quad;
                out.extend_from_slice(&[a << 2 | b >> 4, b << 4 | c >> 2, c << 6 | d]);
                self.filled = 0;
            }
        }
        Ok(())
    }

    fn finish(self, out: &mut Vec<u8>) -> Result<(), DataUriError> {
        let [a, b, c, _] = self.quad;
        match self.filled {
            0 => {}
            2 => out.push(a << 2 | b >> 4),
            3 => out.extend_from_slice(&[a << 2 | b >> 4, b << 4 | c >> 2]),
            _ => return Err(DataUriError::Invalid("truncated base64".into())),
        }
        Ok(())
    }
}

/// The usual extension of a media type, for raw public ids.
pub fn extension_of(mime: &str) -> Option<&'static str> {
    Some(match mime {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "application/pdf" => "pdf",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        "application/json" => "json",
        "text/plain" => "txt",
        "text/csv" => "csv",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> Result<(DataUri, Vec<u8>), DataUriError> {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("in"), dir.path().join("out"));
        std::fs::write(&src, text).unwrap();
        let uri = decode_file(&src, &dst, 1 << 20)?;
        Ok((uri, std::fs::read(dst).unwrap()))
    }

    #[test]
    fn base64_data_uris_decode_with_and_without_padding() {
        let cases = [
            ("data:text/plain;base64,aGVsbG8=", "hello"),
            ("data:text/plain;base64,aGVsbG8", "hello"),
            ("data:;base64,aGk=", "hi"),
            ("data:text/plain;charset=utf-8;base64,aGVs\nbG8h", "hello!"),
        ];
        for (uri, text) in cases {
            let (header, bytes) = decode(uri).unwrap();
            assert_eq!(bytes, text.as_bytes(), "{uri}");
            assert_eq!(header.bytes, text.len() as u64);
        }
        assert_eq!(
            decode("data:image/png;base64,AA==")
                .unwrap()
                .0
                .mime
                .as_deref(),
            Some("image/png")
        );
    }

    #[test]
    fn malformed_data_uris_are_refused() {
        for uri in [
            "data:text/plain,hello",
            "data:text/plain;base64",
            "text/plain;base64,aGk=",
            "data:;base64,a*b=",
            "data:;base64,aGk=aGk=",
            "data:;base64,a",
        ] {
            assert!(decode(uri).is_err(), "{uri}");
        }
    }

    #[test]
    fn decoded_size_is_capped() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("in"), dir.path().join("out"));
        std::fs::write(&src, format!("data:;base64,{}", "AAAA".repeat(100))).unwrap();
        assert!(matches!(
            decode_file(&src, &dst, 100),
            Err(DataUriError::TooLarge(100))
        ));
    }
}
