//! sha256 digests (`sha256:<64 hex>`) and readers/writers that compute them
//! while data streams through.

use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

use crate::error::{ImageError, Result};

pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(data)))
}

/// The hex part of a `sha256:<64 hex>` digest, or an error naming `what`.
/// Only lowercase hex is accepted, so a digest can safely become a file name.
pub fn digest_hex<'a>(digest: &'a str, what: &str) -> Result<&'a str> {
    match digest.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) => {
            Ok(h)
        }
        _ => Err(ImageError::Unsupported(format!(
            "{what}: digest {digest:?} (only sha256:<64 lowercase hex> is supported)"
        ))),
    }
}

pub fn is_digest(s: &str) -> bool {
    digest_hex(s, "").is_ok()
}

/// Counts and hashes what is read through it.
pub struct HashReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashReader<R> {
    pub fn new(inner: R) -> Self {
        HashReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Reads the rest of the stream (so the digest covers all of it).
    pub fn drain(&mut self) -> io::Result<()> {
        io::copy(self, &mut io::sink()).map(|_| ())
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// (`sha256:<hex>`, byte count)
    pub fn finish(self) -> (String, u64) {
        (
            format!("sha256:{}", hex(&self.hasher.finalize())),
            self.count,
        )
    }

    pub fn inner_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Counts and hashes what is written through it.
pub struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashWriter<W> {
    pub fn new(inner: W) -> Self {
        HashWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    pub fn finish(self) -> (W, String, u64) {
        let d = format!("sha256:{}", hex(&self.hasher.finalize()));
        (self.inner, d, self.count)
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Checks `actual` against `expected` digest and size (size `None` = unknown).
pub fn verify(
    what: &str,
    expected: &str,
    expected_size: Option<u64>,
    actual: &str,
    actual_size: u64,
) -> Result<()> {
    if let Some(size) = expected_size
        && size != actual_size
    {
        return Err(ImageError::SizeMismatch {
            what: what.to_owned(),
            expected: size,
            actual: actual_size,
        });
    }
    if expected != actual {
        return Err(ImageError::DigestMismatch {
            what: what.to_owned(),
            expected: expected.to_owned(),
            actual: actual.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut r = HashReader::new(&b"abc"[..]);
        r.drain().unwrap();
        assert_eq!(r.finish(), (sha256_digest(b"abc"), 3));
        assert!(digest_hex("sha256:../../etc", "x").is_err());
        assert!(digest_hex(&sha256_digest(b"a").to_uppercase(), "x").is_err());
        assert!(verify("blob", "sha256:a", Some(3), "sha256:a", 4).is_err());
    }
}
