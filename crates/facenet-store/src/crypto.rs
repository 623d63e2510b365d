//! Master key loading, data-key wrapping and template sealing (AES-256-GCM).
//!
//! Two levels of keys so that rotating the master key means rewrapping 32 bytes, not
//! re-encrypting every template.

use std::fmt;
use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use rand::rngs::OsRng;
use rand::TryRngCore;

use crate::error::{Error, Result};

/// Environment variable holding the master key as 64 hex characters.
pub const MASTER_KEY_ENV: &str = "FACENET_MASTER_KEY";
/// Key file name inside the data directory, used when the variable is unset.
pub const MASTER_KEY_FILE: &str = "master.key";

const NONCE_LEN: usize = 12;
/// Binds the wrapped data key to its purpose, so a template ciphertext can never be
/// passed off as a wrapped key or the other way round.
const DATA_KEY_AAD: &[u8] = b"facenet-store/data-key/v1";

/// Where the master key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    Env,
    File,
    /// The key file did not exist and was just created: the caller should warn that
    /// losing this file loses every template, and that it sits next to the data.
    CreatedFile,
}

/// The master key. It only wraps and unwraps the data key; templates are sealed with
/// the data key held by the store.
#[derive(Clone)]
pub struct Crypto {
    master: [u8; 32],
}

impl fmt::Debug for Crypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Crypto { master: <redacted> }")
    }
}

impl Crypto {
    pub fn from_bytes(master: [u8; 32]) -> Self {
        Crypto { master }
    }

    /// Parses 64 hex characters (surrounding whitespace ignored).
    pub fn from_hex(s: &str) -> Result<Self> {
        let bytes = hex::decode(s.trim())
            .map_err(|_| Error::Crypto("master key is not valid hex".into()))?;
        let master: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::Crypto("master key must be 64 hex characters (256 bits)".into()))?;
        Ok(Crypto { master })
    }

    /// A fresh random master key.
    pub fn generate() -> Result<Self> {
        Ok(Crypto {
            master: random_bytes()?,
        })
    }

    /// Loads the master key from `FACENET_MASTER_KEY`, else from `<data_dir>/master.key`,
    /// creating that file (mode 0600) if it is absent.
    pub fn load(data_dir: &Path) -> Result<(Self, KeySource)> {
        match std::env::var(MASTER_KEY_ENV) {
            Ok(v) => Self::load_with(data_dir, Some(&v)),
            Err(std::env::VarError::NotPresent) => Self::load_with(data_dir, None),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::Crypto(format!(
                "{MASTER_KEY_ENV} is not valid UTF-8"
            ))),
        }
    }

    /// [`Crypto::load`] with the environment value passed in, so tests and callers with
    /// their own configuration need not mutate the process environment.
    pub fn load_with(data_dir: &Path, env_value: Option<&str>) -> Result<(Self, KeySource)> {
        if let Some(v) = env_value {
            return Ok((Self::from_hex(v)?, KeySource::Env));
        }
        crate::create_private_dir(data_dir)?;
        let path = data_dir.join(MASTER_KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                check_private(&path)?;
                Ok((Self::from_hex(&text)?, KeySource::File))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate()?;
                write_new_private(&path, format!("{}\n", hex::encode(key.master)).as_bytes())?;
                Ok((key, KeySource::CreatedFile))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.master))
    }

    /// Wraps a data key: `nonce || ciphertext+tag`.
    pub(crate) fn wrap(&self, data_key: &DataKey) -> Result<Vec<u8>> {
        let (nonce, ct) = seal(&self.cipher(), DATA_KEY_AAD, &data_key.0)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub(crate) fn unwrap(&self, wrapped: &[u8]) -> Result<DataKey> {
        if wrapped.len() <= NONCE_LEN {
            return Err(Error::Corrupt("wrapped data key too short".into()));
        }
        let (nonce, ct) = wrapped.split_at(NONCE_LEN);
        let plain = open(&self.cipher(), nonce, DATA_KEY_AAD, ct).map_err(|_| {
            Error::Crypto(
                "the master key does not match this database (cannot unwrap the data key)".into(),
            )
        })?;
        let key: [u8; 32] = plain
            .try_into()
            .map_err(|_| Error::Corrupt("unwrapped data key has the wrong length".into()))?;
        Ok(DataKey(key))
    }
}

/// The key that seals templates; only ever stored wrapped by the master key.
pub(crate) struct DataKey(pub(crate) [u8; 32]);

impl DataKey {
    pub(crate) fn generate() -> Result<Self> {
        Ok(DataKey(random_bytes()?))
    }
}

/// Seals embeddings under the data key.
pub(crate) struct TemplateCipher(Aes256Gcm);

impl TemplateCipher {
    pub(crate) fn new(key: &DataKey) -> Self {
        TemplateCipher(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key.0)))
    }

    /// Returns (nonce, ciphertext+tag) of the embedding's little-endian f32 bytes.
    pub(crate) fn seal(&self, aad: &str, embedding: &[f32]) -> Result<([u8; NONCE_LEN], Vec<u8>)> {
        let plain: Vec<u8> = embedding.iter().flat_map(|x| x.to_le_bytes()).collect();
        seal(&self.0, aad.as_bytes(), &plain)
    }

    pub(crate) fn open(&self, aad: &str, nonce: &[u8], ct: &[u8]) -> Result<Vec<f32>> {
        if nonce.len() != NONCE_LEN {
            return Err(Error::Crypto("template nonce has the wrong length".into()));
        }
        let plain = open(&self.0, nonce, aad.as_bytes(), ct)?;
        if plain.len() % 4 != 0 {
            return Err(Error::Corrupt(
                "template length is not a multiple of 4".into(),
            ));
        }
        Ok(plain
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

/// The AAD of a template. Ids are fixed-format hex and the model version comes last, so
/// the `|` separator cannot make two different triples collide.
pub(crate) fn template_aad(face_id: &str, subject_id: &str, model_version: &str) -> String {
    format!("{face_id}|{subject_id}|{model_version}")
}

fn seal(cipher: &Aes256Gcm, aad: &[u8], msg: &[u8]) -> Result<([u8; NONCE_LEN], Vec<u8>)> {
    // Random 96-bit nonces are safe for well under 2^32 encryptions per key, far more
    // templates than one gallery will hold.
    let nonce: [u8; NONCE_LEN] = random_bytes()?;
    let ct = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg, aad })
        .map_err(|_| Error::Crypto("encryption failed".into()))?;
    Ok((nonce, ct))
}

fn open(cipher: &Aes256Gcm, nonce: &[u8], aad: &[u8], ct: &[u8]) -> Result<Vec<u8>> {
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map_err(|_| Error::Crypto("authentication failed (wrong key or tampered data)".into()))
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    OsRng
        .try_fill_bytes(&mut buf)
        .map_err(|e| Error::Crypto(format!("OS random source failed: {e}")))?;
    Ok(buf)
}

/// Creates a file that must not already exist, readable by the owner only, and syncs it:
/// a master key lost in a crash would make every template unreadable.
fn write_new_private(path: &Path, contents: &[u8]) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents)?;
    f.sync_all()?;
    if let Some(dir) = path.parent() {
        // The directory entry must reach the disk too, or the file may vanish on power loss.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// A key file others can read is as good as a leaked key; refuse it the way ssh does.
fn check_private(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(Error::Crypto(format!(
                "{} is accessible by group or others (mode {:o}); run chmod 600 on it",
                path.display(),
                mode & 0o777
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
