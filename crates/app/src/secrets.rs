//! Secrets at rest: provider API keys and header values are sealed with
//! AES-256-GCM under one server key before they reach the database, so a
//! copy of the database (a backup, a dump, the SQLite file) holds no key in
//! clear. The server key itself never goes into the database.
//!
//! The key comes from `SECRET_KEY` (base64 of 32 bytes) or, when that is not
//! set, from a key file in the data directory that the first start creates
//! with mode 0600. Every sealed value has its own random 96-bit nonce, and
//! names what it belongs to as associated data (`provider:{id}:api_key`), so
//! a ciphertext copied onto another row or field does not open.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::TryRngCore;

/// The name of the key file inside the data directory.
pub const KEY_FILE_NAME: &str = "secret.key";

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

/// The server key. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct SecretKey(Box<[u8; KEY_LEN]>);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

/// Why no server key could be had. Never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("SECRET_KEY must be the base64 of exactly 32 bytes (e.g. `openssl rand -base64 32`)")]
    MalformedEnv,
    #[error("the key file {0} is not the base64 of exactly 32 bytes")]
    MalformedFile(PathBuf),
    #[error("cannot read or create the key file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the operating system's random generator failed: {0}")]
    Random(String),
}

impl SecretKey {
    /// A fresh random key.
    pub fn generate() -> Result<SecretKey, KeyError> {
        let mut bytes = Box::new([0u8; KEY_LEN]);
        rand::rngs::OsRng
            .try_fill_bytes(bytes.as_mut_slice())
            .map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(SecretKey(bytes))
    }

    /// Parses `SECRET_KEY`: standard base64 (surrounding whitespace allowed)
    /// of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Option<SecretKey> {
        let bytes = BASE64.decode(text.trim()).ok()?;
        let array: [u8; KEY_LEN] = bytes.try_into().ok()?;
        Some(SecretKey(Box::new(array)))
    }

    /// The key as `SECRET_KEY` would give it: for writing the key file and
    /// for redacting it from output, never for showing.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0.as_slice())
    }

    /// The server key: `SECRET_KEY` when given (an error when malformed,
    /// never a silent fallback to the file), else the key file in `data_dir`,
    /// created on first use.
    pub fn resolve(env_value: Option<&str>, data_dir: &Path) -> Result<SecretKey, KeyError> {
        match env_value.filter(|v| !v.trim().is_empty()) {
            Some(v) => SecretKey::from_base64(v).ok_or(KeyError::MalformedEnv),
            None => load_or_create_key_file(&data_dir.join(KEY_FILE_NAME)),
        }
    }
}

/// Reads the key file, or creates it with a new key and mode 0600.
///
/// The new key is written to a private temporary file first and then
/// hard-linked into place: a link fails when the name exists, so two
/// processes starting at once agree on one key, and a reader never sees a
/// half-written file.
pub fn load_or_create_key_file(path: &Path) -> Result<SecretKey, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => return read_key_file(path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let key = SecretKey::generate()?;
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::now_v7().simple()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        writeln!(file, "{}", key.to_base64())?;
        file.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => {
            tracing::info!(path = %path.display(), "created a new server key file for provider secrets");
            Ok(key)
        }
        // Another process created it first: use its key.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path).map_err(io)?;
            read_key_file(path, &text)
        }
        Err(e) => Err(io(e)),
    }
}

fn read_key_file(path: &Path, text: &str) -> Result<SecretKey, KeyError> {
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        // Not fatal (a container volume may not keep modes), but worth a word.
        tracing::warn!(path = %path.display(), "the server key file is readable by other users; chmod 600 it");
    }
    SecretKey::from_base64(text).ok_or_else(|| KeyError::MalformedFile(path.to_owned()))
}

/// A sealed value: its nonce and the ciphertext with its 16-byte tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// A sealed value did not open: a wrong key, another row's value, or
/// tampering. Deliberately says no more.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a sealed secret could not be opened (wrong server key, or the value was altered)")]
pub struct OpenError;

/// Seals and opens values under one server key.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    pub fn new(key: &SecretKey) -> Sealer {
        Sealer {
            cipher: Aes256Gcm::new(key.0.as_slice().into()),
        }
    }

    /// Seals `plaintext`, bound to `context` (what the value belongs to).
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<Sealed, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng
            .try_fill_bytes(&mut nonce)
            .map_err(|e| KeyError::Random(e.to_string()))?;
        let payload = Payload {
            msg: plaintext,
            aad: context.as_bytes(),
        };
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            // Only fails for inputs of more than 64 GiB.
            .map_err(|_| KeyError::Random("encryption failed".into()))?;
        Ok(Sealed {
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Opens a value sealed for the same `context`.
    pub fn open(&self, sealed: &Sealed, context: &str) -> Result<Vec<u8>, OpenError> {
        if sealed.nonce.len() != NONCE_LEN {
            return Err(OpenError);
        }
        let payload = Payload {
            msg: &sealed.ciphertext,
            aad: context.as_bytes(),
        };
        self.cipher
            .decrypt(Nonce::from_slice(&sealed.nonce), payload)
            .map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        Sealer::new(&SecretKey::generate().unwrap())
    }

    #[test]
    fn a_sealed_value_opens_again_and_holds_no_clear_text() {
        let s = sealer();
        let sealed = s.seal(b"sk-very-secret", "provider:1:api_key").unwrap();
        assert_eq!(sealed.nonce.len(), 12);
        assert!(
            !sealed
                .ciphertext
                .windows(b"secret".len())
                .any(|w| w == b"secret")
        );
        assert_eq!(
            s.open(&sealed, "provider:1:api_key").unwrap(),
            b"sk-very-secret"
        );
        // A fresh nonce each time: the same value seals differently.
        let again = s.seal(b"sk-very-secret", "provider:1:api_key").unwrap();
        assert_ne!(sealed, again);
    }

    #[test]
    fn a_wrong_key_does_not_open_a_value() {
        let sealed = sealer().seal(b"sk-1", "ctx").unwrap();
        assert_eq!(sealer().open(&sealed, "ctx"), Err(OpenError));
    }

    #[test]
    fn a_tampered_value_or_another_context_does_not_open() {
        let s = sealer();
        let sealed = s.seal(b"sk-1", "provider:a:api_key").unwrap();
        let mut tampered = sealed.clone();
        tampered.ciphertext[0] ^= 1;
        assert_eq!(s.open(&tampered, "provider:a:api_key"), Err(OpenError));
        let mut nonce = sealed.clone();
        nonce.nonce[3] ^= 0x80;
        assert_eq!(s.open(&nonce, "provider:a:api_key"), Err(OpenError));
        assert_eq!(s.open(&sealed, "provider:b:api_key"), Err(OpenError));
    }

    #[test]
    fn the_env_key_must_be_32_bytes_of_base64() {
        let good = BASE64.encode([7u8; 32]);
        assert!(SecretKey::from_base64(&format!(" {good}\n")).is_some());
        assert!(SecretKey::from_base64(&BASE64.encode([7u8; 31])).is_none());
        assert!(SecretKey::from_base64("not base64!").is_none());
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            SecretKey::resolve(Some("short"), dir.path()),
            Err(KeyError::MalformedEnv)
        ));
        // A malformed SECRET_KEY never falls back to creating a file.
        assert!(!dir.path().join(KEY_FILE_NAME).exists());
    }

    #[test]
    fn the_key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = SecretKey::resolve(None, &data).unwrap();
        let path = data.join(KEY_FILE_NAME);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        let second = SecretKey::resolve(Some("  "), &data).unwrap();
        assert_eq!(first.0, second.0, "the same key on the next start");
        // And it really is the key values were sealed with.
        let sealed = Sealer::new(&first).seal(b"x", "c").unwrap();
        assert_eq!(Sealer::new(&second).open(&sealed, "c").unwrap(), b"x");
        let leftovers: Vec<_> = std::fs::read_dir(&data).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn a_corrupt_key_file_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE_NAME), "garbage").unwrap();
        assert!(matches!(
            SecretKey::resolve(None, dir.path()),
            Err(KeyError::MalformedFile(_))
        ));
    }
}
