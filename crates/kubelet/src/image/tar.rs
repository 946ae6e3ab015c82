//! A minimal, deterministic tar writer (POSIX ustar): directories, regular files with a mode,
//! and symbolic links. Every entry is owned by uid/gid 0 with mtime 0 and empty user and
//! group names, so the same entries always give the same bytes (and the same layer digest).
//!
//! Names longer than ustar's 100 bytes are split into its 155-byte prefix field at a `/`;
//! names that cannot be split that way, and link targets longer than 100 bytes, are errors
//! (no PAX or GNU extensions: the images Barge builds never need them).

use std::fmt;

const BLOCK: usize = 512;

/// Why an entry could not be written.
#[derive(Debug, thiserror::Error)]
pub enum TarError {
    #[error("tar entry name {0:?} is empty, absolute or contains \"..\"")]
    BadName(String),
    #[error("tar entry name {0:?} is too long for ustar")]
    NameTooLong(String),
    #[error("symlink target {0:?} is longer than 100 bytes")]
    LinkTooLong(String),
    #[error("tar entry {0:?} is larger than 8 GiB")]
    TooLarge(String),
}

/// Builds a tar archive in memory.
#[derive(Default)]
pub struct TarWriter {
    buf: Vec<u8>,
}

impl fmt::Debug for TarWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TarWriter")
            .field("len", &self.buf.len())
            .finish()
    }
}

impl TarWriter {
    pub fn new() -> TarWriter {
        TarWriter::default()
    }

    /// A directory `path` (written as `path/`).
    pub fn dir(&mut self, path: &str, mode: u32) -> Result<(), TarError> {
        let name = format!("{}/", path.trim_end_matches('/'));
        self.header(&name, mode, 0, b'5', "")
    }

    /// A regular file with its contents.
    pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) -> Result<(), TarError> {
        self.header(path, mode, data.len() as u64, b'0', "")?;
        self.buf.extend_from_slice(data);
        self.pad();
        Ok(())
    }

    /// A symbolic link `path` -> `target`.
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<(), TarError> {
        self.header(path, 0o777, 0, b'2', target)
    }

    /// The archive, closed by the two zero blocks tar expects at the end.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.resize(self.buf.len() + 2 * BLOCK, 0);
        self.buf
    }

    fn pad(&mut self) {
        let rest = self.buf.len() % BLOCK;
        if rest != 0 {
            self.buf.resize(self.buf.len() + BLOCK - rest, 0);
        }
    }

    fn header(
        &mut self,
        name: &str,
        mode: u32,
        size: u64,
        kind: u8,
        link: &str,
    ) -> Result<(), TarError> {
        check_name(name)?;
        let (prefix, base) = split_name(name)?;
        if link.len() > 100 {
            return Err(TarError::LinkTooLong(link.to_string()));
        }
        if size > 0o77777777777 {
            return Err(TarError::TooLarge(name.to_string()));
        }
        let mut h = [0u8; BLOCK];
        h[..base.len()].copy_from_slice(base.as_bytes());
        octal(&mut h[100..108], u64::from(mode & 0o7777));
        octal(&mut h[108..116], 0); // uid
        octal(&mut h[116..124], 0); // gid
        octal(&mut h[124..136], size);
        octal(&mut h[136..148], 0); // mtime
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        octal(&mut h[329..337], 0); // devmajor
        octal(&mut h[337..345], 0); // devminor
        h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
        // The checksum is the byte sum of the header with the checksum field read as spaces,
        // written as six octal digits, a NUL and a space.
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        octal(&mut h[148..155], u64::from(sum));
        h[155] = b' ';
        self.buf.extend_from_slice(&h);
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), TarError> {
    let bad = name.is_empty()
        || name.starts_with('/')
        || name.contains('\0')
        || name.split('/').any(|part| part == "..");
    if bad {
        return Err(TarError::BadName(name.to_string()));
    }
    Ok(())
}

/// Splits a name into ustar's (prefix, name) fields: the name field holds up to 100 bytes,
/// the prefix up to 155, joined by a `/` that is not stored.
fn split_name(name: &str) -> Result<(&str, &str), TarError> {
    if name.len() <= 100 {
        return Ok(("", name));
    }
    // A directory's trailing slash belongs to the name part.
    let search = name.strip_suffix('/').unwrap_or(name);
    for (i, _) in search.match_indices('/').rev() {
        let (prefix, base) = (&name[..i], &name[i + 1..]);
        if prefix.len() <= 155 && base.len() <= 100 && !base.is_empty() {
            return Ok((prefix, base));
        }
    }
    Err(TarError::NameTooLong(name.to_string()))
}

/// Writes `value` as zero-padded octal digits filling all but the last byte of `field`,
/// followed by a NUL.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    let text = text.as_bytes();
    // Values never exceed the field (checked by the callers), but stay safe if they did.
    let start = text.len().saturating_sub(digits);
    field[..digits].copy_from_slice(&text[start..]);
    field[digits] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the archive back: (name, kind, mode, size, link, data).
    fn parse(buf: &[u8]) -> Vec<(String, u8, u32, Vec<u8>, String)> {
        fn text(b: &[u8]) -> String {
            let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
            String::from_utf8(b[..end].to_vec()).unwrap()
        }
        fn num(b: &[u8]) -> u64 {
            u64::from_str_radix(text(b).trim(), 8).unwrap()
        }
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            let h = &buf[at..at + BLOCK];
            if h.iter().all(|&b| b == 0) {
                assert!(buf[at + BLOCK..].iter().all(|&b| b == 0));
                assert_eq!(buf.len(), at + 2 * BLOCK);
                return out;
            }
            let mut check = h.to_vec();
            check[148..156].copy_from_slice(b"        ");
            let sum: u64 = check.iter().map(|&b| u64::from(b)).sum();
            assert_eq!(num(&h[148..156]), sum, "checksum");
            assert_eq!(&h[257..265], b"ustar\x0000");
            assert_eq!(num(&h[108..116]), 0);
            assert_eq!(num(&h[136..148]), 0);
            let prefix = text(&h[345..500]);
            let base = text(&h[..100]);
            let name = if prefix.is_empty() {
                base
            } else {
                format!("{prefix}/{base}")
            };
            let size = num(&h[124..136]) as usize;
            let data = buf[at + BLOCK..at + BLOCK + size].to_vec();
            out.push((
                name,
                h[156],
                num(&h[100..108]) as u32,
                data,
                text(&h[157..257]),
            ));
            at += BLOCK + size.div_ceil(BLOCK) * BLOCK;
        }
    }

    #[test]
    fn entries_round_trip_and_are_deterministic() {
        let build = || {
            let mut t = TarWriter::new();
            t.dir("bin", 0o755).unwrap();
            t.file("bin/hello", 0o755, b"#!/bin/sh\necho hi\n").unwrap();
            t.symlink("bin/sh", "/bin/busybox").unwrap();
            t.dir("tmp/", 0o1777).unwrap();
            t.file("empty", 0o644, b"").unwrap();
            t.finish()
        };
        let a = build();
        assert_eq!(a, build());
        assert_eq!(a.len() % BLOCK, 0);
        let entries = parse(&a);
        let names: Vec<_> = entries.iter().map(|e| (e.0.as_str(), e.1, e.2)).collect();
        assert_eq!(
            names,
            [
                ("bin/", b'5', 0o755),
                ("bin/hello", b'0', 0o755),
                ("bin/sh", b'2', 0o777),
                ("tmp/", b'5', 0o1777),
                ("empty", b'0', 0o644),
            ]
        );
        assert_eq!(entries[1].3, b"#!/bin/sh\necho hi\n");
        assert_eq!(entries[2].4, "/bin/busybox");
    }

    #[test]
    fn long_names_use_the_prefix_field() {
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        let mut t = TarWriter::new();
        t.file(&long, 0o644, b"x").unwrap();
        let entries = parse(&t.finish());
        assert_eq!(entries[0].0, long);

        let mut t = TarWriter::new();
        assert!(matches!(
            t.file(&"x".repeat(101), 0o644, b""),
            Err(TarError::NameTooLong(_))
        ));
        assert!(matches!(
            t.file("/abs", 0o644, b""),
            Err(TarError::BadName(_))
        ));
        assert!(matches!(
            t.file("a/../b", 0o644, b""),
            Err(TarError::BadName(_))
        ));
        assert!(matches!(
            t.symlink("l", &"t".repeat(101)),
            Err(TarError::LinkTooLong(_))
        ));
    }

    #[test]
    fn system_tar_reads_it() {
        if std::process::Command::new("tar")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("skipping: no tar binary");
            return;
        }
        let mut t = TarWriter::new();
        t.dir("bin", 0o755).unwrap();
        t.file("bin/hello", 0o750, b"hello\n").unwrap();
        t.symlink("bin/link", "hello").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        std::fs::write(&path, t.finish()).unwrap();
        let out = std::process::Command::new("tar")
            .arg("-tvf")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(listing.contains("drwxr-xr-x 0/0"), "{listing}");
        assert!(listing.contains("-rwxr-x--- 0/0"), "{listing}");
        assert!(listing.contains("bin/link -> hello"), "{listing}");
    }
}
