//! ASCII85 (PDF's `ASCII85Decode` filter, ISO 32000-1 7.4.3): four bytes
//! become five characters `!`..`u`, four zero bytes `z`, and `~>` ends the
//! data. reportlab writes every image stream this way by default
//! (`rl_config.useA85 = 1`), so the document it holds and the file it writes
//! carry 1.25 times each photo's bytes; `pdf.image_encoding = "ascii85"`
//! models that (see `settings::ImageEncoding`).

/// `data` ASCII85-encoded, `~>` included; no line breaks (a decoder skips
/// white space, so none are needed).
pub fn encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len(data.len()));
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let word = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        if word == 0 {
            out.push(b'z');
        } else {
            out.extend_from_slice(&digits(word));
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        // A final group of n bytes is padded with zeros and written as its
        // first n + 1 characters.
        let mut padded = [0u8; 4];
        padded[..rest.len()].copy_from_slice(rest);
        let d = digits(u32::from_be_bytes(padded));
        out.extend_from_slice(&d[..rest.len() + 1]);
    }
    out.extend_from_slice(b"~>");
    out
}

/// `text` decoded as a PDF reader's `ASCII85Decode` filter does (white
/// space skipped); `None` when it is not ASCII85 or lacks the `~>` end.
pub fn decode(text: &[u8]) -> Option<Vec<u8>> {
    let end = text.windows(2).position(|w| w == b"~>")?;
    let mut out = Vec::with_capacity(end / 5 * 4);
    let mut group = [0u8; 5];
    let mut n = 0;
    let value = |g: &[u8; 5]| -> Option<u32> {
        let w = g.iter().fold(0u64, |w, &c| w * 85 + u64::from(c - b'!'));
        u32::try_from(w).ok()
    };
    for &c in &text[..end] {
        match c {
            b'z' if n == 0 => out.extend_from_slice(&[0; 4]),
            b'!'..=b'u' => {
                group[n] = c;
                n += 1;
                if n == 5 {
                    out.extend_from_slice(&value(&group)?.to_be_bytes());
                    n = 0;
                }
            }
            c if c.is_ascii_whitespace() => {}
            _ => return None,
        }
    }
    match n {
        0 => {}
        1 => return None,
        _ => {
            group[n..].fill(b'u');
            out.extend_from_slice(&value(&group)?.to_be_bytes()[..n - 1]);
        }
    }
    Some(out)
}

/// The encoded length of `n` bytes when none of its groups is all zeros
/// (the usual case for JPEG data): 5 characters per 4 bytes, plus `~>`.
pub fn encoded_len(n: usize) -> usize {
    n / 4 * 5 + if n.is_multiple_of(4) { 0 } else { n % 4 + 1 } + 2
}

fn digits(mut word: u32) -> [u8; 5] {
    let mut d = [0u8; 5];
    for slot in d.iter_mut().rev() {
        *slot = b'!' + (word % 85) as u8;
        word /= 85;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // From the PostScript Language Reference's example and edge cases.
        assert_eq!(encode(b""), b"~>");
        assert_eq!(encode(b"\0\0\0\0"), b"z~>");
        assert_eq!(encode(b"Man "), b"9jqo^~>");
        assert_eq!(encode(b"\xff\xff\xff\xff"), b"s8W-!~>");
        assert_eq!(encode(b"."), b"/c~>");
        assert_eq!(decode(b"9jqo^ z\n/c~>").unwrap(), b"Man \0\0\0\0.");
        assert_eq!(decode(b"9jqo^"), None, "no end marker");
        assert_eq!(decode(b"9jq{o~>"), None, "not ASCII85");
        assert_eq!(decode(b"s8W-\"~>"), None, "a group over 2^32");
    }

    #[test]
    fn every_length_round_trips_and_costs_five_per_four() {
        let data: Vec<u8> = (0..2003u32).map(|i| (i * 7919 % 251) as u8).collect();
        for n in [0, 1, 2, 3, 4, 5, 7, 8, 1000, 1001, 1002, 1003, 2003] {
            let e = encode(&data[..n]);
            assert_eq!(decode(&e).unwrap(), &data[..n], "n = {n}");
            assert_eq!(e.len(), encoded_len(n), "n = {n}");
        }
        // A JPEG-sized stream: 1.25 times its bytes.
        let big: Vec<u8> = (0..400_000u32).map(|i| (i % 255 + 1) as u8).collect();
        let ratio = encode(&big).len() as f64 / big.len() as f64;
        assert!((ratio - 1.25).abs() < 0.001, "{ratio}");
    }
}
