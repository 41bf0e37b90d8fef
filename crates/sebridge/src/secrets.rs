//! Encryption at rest for credentials stored in the database (tenant API keys, later AMQP
//! passwords).
//!
//! One [`MasterKey`] (32 bytes) per installation, taken from the environment variable
//! [`MASTER_KEY_ENV`] or from a key file. Values are sealed with XChaCha20-Poly1305 under a
//! random 24-byte nonce; the random nonce is safe at any realistic volume thanks to its size,
//! so no nonce counter has to be persisted.
//!
//! Sealed format: `version (1 byte) || nonce (24 bytes) || ciphertext || tag (16 bytes)`.
//! The associated data names the row and field a value belongs to (convention:
//! `"tenant:<name>:api_key"`), so a ciphertext copied into another row fails to open.
//!
//! This module does no storage; callers keep the sealed bytes wherever they like.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use rand::TryRng as _;
use secrecy::zeroize::Zeroizing;
use secrecy::SecretString;

/// The environment variable that holds the master key (base64 of 32 bytes).
pub const MASTER_KEY_ENV: &str = "SEBRIDGE_MASTER_KEY";

/// Format version written as the first byte of every sealed value.
const VERSION: u8 = 1;
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// A key file is one base64 line (44 chars); anything much larger is not a key file, and
/// reading it whole would be pointless.
const KEY_FILE_MAX: u64 = 1024;

/// How to make a key, shown in errors about malformed keys.
const KEY_HINT: &str = "generate one with `head -c 32 /dev/urandom | base64`";

/// Errors of key loading and of decryption. Messages name variables and files, never key
/// material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The environment variable is set but not usable.
    #[error("environment variable {var}: {problem}")]
    InvalidEnvKey { var: String, problem: String },
    /// The key file exists but does not hold a usable key.
    #[error("master key file {}: {problem}", path.display())]
    InvalidKeyFile { path: PathBuf, problem: String },
    /// Neither the variable nor the file is there, and creating was not asked for.
    #[error(
        "no master key: environment variable {var} is not set and key file {} does not exist \
         (`sebridge tenants add` creates it)",
        path.display()
    )]
    KeyFileMissing { var: String, path: PathBuf },
    /// The key file can be read by other users; using it would hide that the key leaked.
    #[error(
        "master key file {} is accessible by group or others (mode {mode:03o}); \
         run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    KeyFileInsecure { path: PathBuf, mode: u32 },
    #[error("cannot read master key file {}: {source}", path.display())]
    KeyFileRead { path: PathBuf, source: io::Error },
    #[error("cannot create master key file {}: {source}", path.display())]
    KeyFileCreate { path: PathBuf, source: io::Error },
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
    /// Wrong key, altered data, or data of another row. Deliberately undistinguished: telling
    /// them apart would help an attacker, never an operator.
    #[error(
        "cannot decrypt secret: wrong master key, or the stored value was altered or belongs \
         to another record"
    )]
    Decrypt,
    #[error("sealed secret has format version {0}; this build reads version {VERSION}")]
    UnsupportedVersion(u8),
    #[error("decrypted secret is not valid UTF-8")]
    NotUtf8,
}

/// The installation's master key. Zeroized on drop; `Debug` shows nothing of it.
pub struct MasterKey {
    // Only the cipher is kept (boxed so moves don't copy the key around the stack); the
    // crate's `zeroize` feature wipes its key on drop.
    cipher: Box<XChaCha20Poly1305>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

impl MasterKey {
    /// Loads the key from the environment variable `env_var` when set (base64 of exactly
    /// 32 bytes), else from `key_file` (the same, on one line). When neither exists and
    /// `create_if_missing` is true, a new key is generated and written to `key_file` with
    /// mode 0600; an existing file is never overwritten.
    pub fn from_env_or_file(
        env_var: &str,
        key_file: &Path,
        create_if_missing: bool,
    ) -> Result<MasterKey, SecretsError> {
        let value = match std::env::var_os(env_var) {
            None => None,
            Some(v) => match v.into_string() {
                Ok(s) => Some(Zeroizing::new(s)),
                Err(_) => {
                    return Err(SecretsError::InvalidEnvKey {
                        var: env_var.to_string(),
                        problem: "is not valid UTF-8".to_string(),
                    })
                }
            },
        };
        Self::resolve(env_var, value, key_file, create_if_missing)
    }

    /// [`Self::from_env_or_file`] with the variable's value passed in, so tests need not
    /// mutate the process environment.
    fn resolve(
        env_var: &str,
        env_value: Option<Zeroizing<String>>,
        key_file: &Path,
        create_if_missing: bool,
    ) -> Result<MasterKey, SecretsError> {
        if let Some(value) = env_value {
            return Self::from_base64(&value).map_err(|problem| SecretsError::InvalidEnvKey {
                var: env_var.to_string(),
                problem,
            });
        }
        match read_key_file(key_file) {
            Err(SecretsError::KeyFileRead { source, .. })
                if source.kind() == io::ErrorKind::NotFound =>
            {
                if create_if_missing {
                    create_key_file(key_file)
                } else {
                    Err(SecretsError::KeyFileMissing {
                        var: env_var.to_string(),
                        path: key_file.to_path_buf(),
                    })
                }
            }
            other => other,
        }
    }

    /// A new random key from the operating system's generator.
    ///
    /// # Panics
    /// If the operating system cannot provide randomness (no secure key is possible then).
    pub fn generate() -> MasterKey {
        match Self::try_generate() {
            Ok(key) => key,
            Err(e) => panic!("{e}"),
        }
    }

    fn try_generate() -> Result<MasterKey, SecretsError> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rand::rngs::SysRng
            .try_fill_bytes(&mut bytes[..])
            .map_err(|e| SecretsError::Random(e.to_string()))?;
        Ok(Self::from_bytes(&bytes))
    }

    fn from_bytes(bytes: &[u8; KEY_LEN]) -> MasterKey {
        MasterKey {
            cipher: Box::new(XChaCha20Poly1305::new(bytes.into())),
        }
    }

    /// Parses base64 of exactly 32 bytes. The error is a problem description without any of
    /// the input (a near-miss key is still mostly a key).
    fn from_base64(text: &str) -> Result<MasterKey, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err(format!(
                "is empty; expected base64 of 32 bytes ({KEY_HINT})"
            ));
        }
        let decoded = Zeroizing::new(BASE64.decode(text).map_err(|_| {
            format!("is not valid base64; expected base64 of 32 bytes ({KEY_HINT})")
        })?);
        let bytes: &[u8; KEY_LEN] = decoded.as_slice().try_into().map_err(|_| {
            format!(
                "decodes to {} bytes; expected base64 of exactly 32 bytes ({KEY_HINT})",
                decoded.len()
            )
        })?;
        Ok(Self::from_bytes(bytes))
    }

    /// Encrypts `plaintext`, binding it to `associated_data` (which is authenticated, not
    /// stored). Output: version || nonce || ciphertext+tag.
    ///
    /// # Panics
    /// If the operating system cannot provide randomness for the nonce.
    pub fn seal(&self, plaintext: &[u8], associated_data: &[u8]) -> Vec<u8> {
        let mut nonce = XNonce::default();
        if let Err(e) = rand::rngs::SysRng.try_fill_bytes(&mut nonce) {
            // Without randomness a nonce could repeat, which breaks the cipher: never go on.
            panic!("{}", SecretsError::Random(e.to_string()));
        }
        let aad = versioned_aad(associated_data);
        let payload = Payload {
            msg: plaintext,
            aad: &aad,
        };
        let ciphertext = match self.cipher.encrypt(&nonce, payload) {
            Ok(c) => c,
            // Only possible beyond ~256 GiB of plaintext, which no credential comes near.
            Err(_) => panic!(
                "XChaCha20-Poly1305 refused a {}-byte message",
                plaintext.len()
            ),
        };
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Decrypts a value made by [`Self::seal`] with the same key and associated data.
    pub fn open(
        &self,
        sealed: &[u8],
        associated_data: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
        let (&version, rest) = sealed.split_first().ok_or(SecretsError::Decrypt)?;
        if version != VERSION {
            return Err(SecretsError::UnsupportedVersion(version));
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(SecretsError::Decrypt);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| SecretsError::Decrypt)?;
        let aad = versioned_aad(associated_data);
        let payload = Payload {
            msg: ciphertext,
            aad: &aad,
        };
        self.cipher
            .decrypt(&nonce, payload)
            .map(Zeroizing::new)
            .map_err(|_| SecretsError::Decrypt)
    }

    /// [`Self::open`] for text secrets (API keys, passwords).
    pub fn open_string(
        &self,
        sealed: &[u8],
        associated_data: &[u8],
    ) -> Result<SecretString, SecretsError> {
        let mut bytes = self.open(sealed, associated_data)?;
        // Take the buffer out so the String reuses it; `bytes` is left empty.
        let owned = std::mem::take(&mut *bytes);
        match String::from_utf8(owned) {
            Ok(s) => Ok(SecretString::from(s)),
            Err(e) => {
                // Wipe the rejected plaintext before it is dropped.
                drop(Zeroizing::new(e.into_bytes()));
                Err(SecretsError::NotUtf8)
            }
        }
    }
}

/// The version byte is authenticated too, so it cannot be changed to steer a future reader
/// into another format.
fn versioned_aad(associated_data: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(1 + associated_data.len());
    aad.push(VERSION);
    aad.extend_from_slice(associated_data);
    aad
}

fn read_key_file(path: &Path) -> Result<MasterKey, SecretsError> {
    let read_err = |source| SecretsError::KeyFileRead {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    // Check the opened file (not the path) so the check and the read see the same file.
    let meta = file.metadata().map_err(read_err)?;
    if meta.is_dir() {
        return Err(SecretsError::InvalidKeyFile {
            path: path.to_path_buf(),
            problem: "is a directory".to_string(),
        });
    }
    check_private(path, &meta)?;
    let mut text = Zeroizing::new(String::new());
    file.take(KEY_FILE_MAX)
        .read_to_string(&mut text)
        .map_err(read_err)?;
    MasterKey::from_base64(&text).map_err(|problem| SecretsError::InvalidKeyFile {
        path: path.to_path_buf(),
        problem: format!("content {problem}"),
    })
}

#[cfg(unix)]
fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), SecretsError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretsError::KeyFileInsecure {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), SecretsError> {
    // No mode bits to check; rely on the platform's ACLs.
    Ok(())
}

fn create_key_file(path: &Path) -> Result<MasterKey, SecretsError> {
    let create_err = |source| SecretsError::KeyFileCreate {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
    rand::rngs::SysRng
        .try_fill_bytes(&mut bytes[..])
        .map_err(|e| SecretsError::Random(e.to_string()))?;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = match options.open(path) {
        Ok(f) => f,
        // Another process created it between our read and our create: use theirs, since
        // values may already be sealed with it.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return read_key_file(path),
        Err(e) => return Err(create_err(e)),
    };
    let mut line = Zeroizing::new(BASE64.encode(&bytes[..]));
    line.push('\n');
    let written = file
        .write_all(line.as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        // A truncated key file would be taken for a corrupt key later; leave nothing behind.
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(create_err(e));
    }
    sync_parent_dir(path);
    // The one moment to say it: without this file nothing sealed with it can be read again.
    tracing::warn!(
        path = %path.display(),
        "created a new master key; BACK IT UP with the store (without it the stored API keys \
         and stream passwords cannot be decrypted), or set SEBRIDGE_MASTER_KEY from a secret store"
    );
    Ok(MasterKey::from_bytes(&bytes))
}

/// Makes the new directory entry durable: losing the key file in a crash would make every
/// value sealed with it unreadable. Best effort, since not every platform allows it.
fn sync_parent_dir(path: &Path) {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_b64(byte: u8) -> Zeroizing<String> {
        Zeroizing::new(BASE64.encode([byte; KEY_LEN]))
    }

    #[test]
    fn round_trip() {
        let key = MasterKey::generate();
        let sealed = key.seal(b"s3cr3t-api-key", b"tenant:acme:api_key");
        assert_eq!(sealed.len(), 1 + NONCE_LEN + 14 + TAG_LEN);
        assert_eq!(sealed[0], VERSION);
        let opened = key.open(&sealed, b"tenant:acme:api_key").unwrap();
        assert_eq!(opened.as_slice(), b"s3cr3t-api-key");
        let s = key.open_string(&sealed, b"tenant:acme:api_key").unwrap();
        use secrecy::ExposeSecret;
        assert_eq!(s.expose_secret(), "s3cr3t-api-key");
    }

    #[test]
    fn empty_plaintext_round_trips() {
        let key = MasterKey::generate();
        let sealed = key.seal(b"", b"ad");
        assert!(key.open(&sealed, b"ad").unwrap().is_empty());
    }

    #[test]
    fn nonces_differ() {
        let key = MasterKey::generate();
        assert_ne!(key.seal(b"x", b"ad"), key.seal(b"x", b"ad"));
    }

    #[test]
    fn tampering_is_detected_everywhere() {
        let key = MasterKey::generate();
        let sealed = key.seal(b"s3cr3t", b"tenant:acme:api_key");
        // Flip one bit in every byte position after the version byte: nonce, body and tag.
        for i in 1..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            assert!(
                matches!(
                    key.open(&t, b"tenant:acme:api_key"),
                    Err(SecretsError::Decrypt)
                ),
                "byte {i}"
            );
        }
        let mut t = sealed.clone();
        t.pop();
        assert!(matches!(
            key.open(&t, b"tenant:acme:api_key"),
            Err(SecretsError::Decrypt)
        ));
        assert!(matches!(
            key.open(&sealed[..10], b"a"),
            Err(SecretsError::Decrypt)
        ));
        assert!(matches!(key.open(&[], b"a"), Err(SecretsError::Decrypt)));
    }

    #[test]
    fn unknown_version_is_reported() {
        let key = MasterKey::generate();
        let mut sealed = key.seal(b"s3cr3t", b"ad");
        sealed[0] = 7;
        assert!(matches!(
            key.open(&sealed, b"ad"),
            Err(SecretsError::UnsupportedVersion(7))
        ));
    }

    #[test]
    fn wrong_key_fails() {
        let sealed = MasterKey::generate().seal(b"s3cr3t", b"ad");
        assert!(matches!(
            MasterKey::generate().open(&sealed, b"ad"),
            Err(SecretsError::Decrypt)
        ));
    }

    #[test]
    fn wrong_associated_data_fails() {
        let key = MasterKey::generate();
        let sealed = key.seal(b"s3cr3t", b"tenant:acme:api_key");
        let err = key.open(&sealed, b"tenant:globex:api_key").unwrap_err();
        assert!(matches!(err, SecretsError::Decrypt));
        assert!(!err.to_string().contains("s3cr3t"));
    }

    #[test]
    fn non_utf8_plaintext_is_refused_as_string() {
        let key = MasterKey::generate();
        let sealed = key.seal(&[0xff, 0xfe], b"ad");
        assert!(matches!(
            key.open_string(&sealed, b"ad"),
            Err(SecretsError::NotUtf8)
        ));
    }

    #[test]
    fn debug_never_shows_key_material() {
        let b64 = key_b64(0xab);
        let key = MasterKey::from_base64(&b64).unwrap();
        let shown = format!("{key:?}");
        assert_eq!(shown, "MasterKey([REDACTED])");
        assert!(!shown.contains(b64.as_str()));
        assert!(!shown.to_lowercase().contains("abab"));
        assert!(!shown.contains("171")); // 0xab in decimal

        // Errors about a bad key describe it without quoting it.
        let near_miss = Zeroizing::new(BASE64.encode([0xab_u8; 31]));
        let err = MasterKey::resolve(
            "K",
            Some(near_miss.clone()),
            Path::new("/nonexistent"),
            false,
        )
        .unwrap_err();
        for shown in [format!("{err:?}"), err.to_string()] {
            assert!(!shown.contains(near_miss.as_str()), "{shown}");
            assert!(!shown.contains("171"), "{shown}");
        }
        let garbage = Zeroizing::new("q83v!not-base64".to_string());
        let err =
            MasterKey::resolve("K", Some(garbage), Path::new("/nonexistent"), false).unwrap_err();
        for shown in [format!("{err:?}"), err.to_string()] {
            assert!(!shown.contains("q83v"), "{shown}");
        }
        assert!(!format!("{:?}", SecretsError::Decrypt).contains("ab"));
    }

    #[test]
    fn env_key_wins_over_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sebridge.key");
        let key = MasterKey::resolve("K", Some(key_b64(1)), &file, true).unwrap();
        // Not created: the environment provided the key.
        assert!(!file.exists());
        let sealed = key.seal(b"x", b"ad");
        let same = MasterKey::from_base64(&key_b64(1)).unwrap();
        assert_eq!(same.open(&sealed, b"ad").unwrap().as_slice(), b"x");
    }

    #[test]
    fn env_key_of_wrong_length_is_refused_clearly() {
        let short = Zeroizing::new(BASE64.encode([7u8; 16]));
        let err =
            MasterKey::resolve(MASTER_KEY_ENV, Some(short), Path::new("/x"), false).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, SecretsError::InvalidEnvKey { .. }));
        assert!(msg.contains("SEBRIDGE_MASTER_KEY"), "{msg}");
        assert!(msg.contains("16 bytes"), "{msg}");
        assert!(msg.contains("exactly 32 bytes"), "{msg}");

        let empty = Zeroizing::new(String::new());
        let msg = MasterKey::resolve(MASTER_KEY_ENV, Some(empty), Path::new("/x"), false)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("is empty"), "{msg}");

        let bad = Zeroizing::new("not base64 at all!".to_string());
        let msg = MasterKey::resolve(MASTER_KEY_ENV, Some(bad), Path::new("/x"), false)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("not valid base64"), "{msg}");
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_created_with_0600_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sebridge.key");
        let key = MasterKey::resolve("K", None, &file, true).unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.trim().len(), 44);
        assert!(text.ends_with('\n'));

        // Loading again reads the same key and does not rewrite the file.
        let sealed = key.seal(b"x", b"ad");
        let again = MasterKey::resolve("K", None, &file, true).unwrap();
        assert_eq!(again.open(&sealed, b"ad").unwrap().as_slice(), b"x");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    }

    #[test]
    fn from_env_or_file_falls_back_to_the_file() {
        // A variable nobody sets, so the test needs no (racy) change to the environment.
        let var = "SEBRIDGE_TEST_MASTER_KEY_NEVER_SET_7C1E";
        assert!(std::env::var_os(var).is_none());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sebridge.key");
        let key = MasterKey::from_env_or_file(var, &file, true).unwrap();
        assert!(file.exists());
        let sealed = key.seal(b"x", b"ad");
        let again = MasterKey::from_env_or_file(var, &file, false).unwrap();
        assert_eq!(again.open(&sealed, b"ad").unwrap().as_slice(), b"x");
    }

    #[test]
    fn missing_key_file_without_create_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sebridge.key");
        let err = MasterKey::resolve(MASTER_KEY_ENV, None, &file, false).unwrap_err();
        assert!(matches!(err, SecretsError::KeyFileMissing { .. }));
        assert!(err.to_string().contains("SEBRIDGE_MASTER_KEY"));
        assert!(!file.exists());
    }

    #[test]
    fn missing_directory_is_a_create_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("no/such/dir/sebridge.key");
        let err = MasterKey::resolve("K", None, &file, true).unwrap_err();
        assert!(matches!(err, SecretsError::KeyFileCreate { .. }), "{err}");
    }

    #[cfg(unix)]
    fn write_key_file(path: &Path, content: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, content).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn world_readable_key_file_is_refused_with_chmod_hint() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sebridge.key");
        write_key_file(&file, &format!("{}\n", key_b64(3).as_str()), 0o644);
        let err = MasterKey::resolve("K", None, &file, true).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, SecretsError::KeyFileInsecure { mode: 0o644, .. }),
            "{msg}"
        );
        assert!(
            msg.contains(&format!("chmod 600 {}", file.display())),
            "{msg}"
        );
        assert!(msg.contains("644"), "{msg}");

        // Group-readable only is refused too.
        write_key_file(&file, key_b64(3).as_str(), 0o640);
        assert!(MasterKey::resolve("K", None, &file, false).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn key_file_content_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sebridge.key");
        write_key_file(&file, &format!("  {}  \n", key_b64(5).as_str()), 0o600);
        let key = MasterKey::resolve("K", None, &file, false).unwrap();
        let sealed = key.seal(b"x", b"ad");
        let same = MasterKey::from_base64(&key_b64(5)).unwrap();
        assert!(same.open(&sealed, b"ad").is_ok());

        write_key_file(&file, &BASE64.encode([5u8; 33]), 0o600);
        let msg = MasterKey::resolve("K", None, &file, false)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("33 bytes") && msg.contains(&file.display().to_string()),
            "{msg}"
        );

        write_key_file(&file, "", 0o400);
        let msg = MasterKey::resolve("K", None, &file, true)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("empty"), "{msg}");
    }
}
