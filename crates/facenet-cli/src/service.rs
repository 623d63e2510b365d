//! `facenet serve`, `facenet keys` and `facenet audit`: the service's commands over a data
//! directory (its SQLite store and master key).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use facenet_core::batch::BatchConfig;
use facenet_server::{AppState, Limits, RateLimit, StoreKeys};
use facenet_store::{AuditCtx, Crypto, KeySource, Role, SqliteStore, Store};

use crate::commands::{emit, Context};
use crate::exit;

#[derive(Args)]
pub struct DataDir {
    /// The service's data directory (database, master key).
    #[arg(long, default_value = "./data", value_name = "DIR")]
    data_dir: PathBuf,
}

/// `facenet serve` options. Each comes from the flag, else its `FACENET_*` variable, else the
/// `--config` TOML file (same names, `snake_case`), else the default shown.
#[derive(Args)]
pub struct ServeArgs {
    /// A TOML file with any of the options below.
    #[arg(long, env = "FACENET_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// The service's data directory (database, master key) [default: ./data].
    #[arg(long, env = "FACENET_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on; loopback unless you mean to expose the service
    /// [default: 127.0.0.1:8080].
    #[arg(long, env = "FACENET_LISTEN", value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// PEM certificate chain; with --tls-key, serve HTTPS (TLS 1.3 only).
    #[arg(
        long,
        env = "FACENET_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(
        long,
        env = "FACENET_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    tls_key: Option<PathBuf>,
    /// Largest faces-per-run of the embedding queue [default: 32].
    #[arg(long, env = "FACENET_MAX_BATCH")]
    max_batch: Option<usize>,
    /// How long a request may wait for others to share its batch, in ms [default: 0: only the requests already queued].
    #[arg(long, env = "FACENET_MAX_WAIT_MS")]
    max_wait_ms: Option<u64>,
    /// Embedding jobs that may wait; more get 503 with Retry-After [default: 256].
    #[arg(long, env = "FACENET_QUEUE_CAPACITY")]
    queue_capacity: Option<usize>,
    /// Largest request body in bytes [default: 16777216].
    #[arg(long, env = "FACENET_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,
    /// Seconds before a request gets 408 [default: 30].
    #[arg(long, env = "FACENET_REQUEST_TIMEOUT_S")]
    request_timeout_s: Option<u64>,
    /// Sustained requests per second per API key; 0 turns rate limits off [default: 100].
    #[arg(long, env = "FACENET_RATE_LIMIT")]
    rate_limit: Option<u32>,
    /// Requests one key may send at once before the rate applies [default: 200].
    #[arg(long, env = "FACENET_RATE_BURST")]
    rate_burst: Option<u32>,
}

/// The `--config` file: the same options as the flags.
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ServeFile {
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    max_batch: Option<usize>,
    max_wait_ms: Option<u64>,
    queue_capacity: Option<usize>,
    max_body_bytes: Option<usize>,
    request_timeout_s: Option<u64>,
    rate_limit: Option<u32>,
    rate_burst: Option<u32>,
}

/// The settings `serve` runs with, once flags, environment, file and defaults are merged.
struct ServeConfig {
    data_dir: PathBuf,
    listen: SocketAddr,
    tls: Option<(PathBuf, PathBuf)>,
    batch: BatchConfig,
    limits: Limits,
}

impl ServeArgs {
    fn resolve(&self) -> anyhow::Result<ServeConfig> {
        let file: ServeFile = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("invalid configuration in {}", path.display()))?
            }
            None => ServeFile::default(),
        };
        let defaults = BatchConfig::default();
        let limits = Limits::default();
        let tls = match (
            self.tls_cert.clone().or(file.tls_cert),
            self.tls_key.clone().or(file.tls_key),
        ) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => anyhow::bail!("TLS needs both tls_cert and tls_key"),
        };
        let rate = self.rate_limit.or(file.rate_limit).unwrap_or(100);
        let burst = self.rate_burst.or(file.rate_burst).unwrap_or(200);
        let rate = std::num::NonZeroU32::new(rate).map(|per_second| RateLimit {
            per_second,
            burst: std::num::NonZeroU32::new(burst).unwrap_or(per_second),
        });
        Ok(ServeConfig {
            data_dir: self
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("./data")),
            listen: self
                .listen
                .or(file.listen)
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080))),
            tls,
            batch: BatchConfig {
                max_batch: self.max_batch.or(file.max_batch).unwrap_or(32).max(1),
                max_wait: std::time::Duration::from_millis(
                    self.max_wait_ms.or(file.max_wait_ms).unwrap_or(0),
                ),
                queue_capacity: self
                    .queue_capacity
                    .or(file.queue_capacity)
                    .unwrap_or(defaults.queue_capacity)
                    .max(1),
            },
            limits: Limits {
                max_body_bytes: self
                    .max_body_bytes
                    .or(file.max_body_bytes)
                    .unwrap_or(limits.max_body_bytes),
                request_timeout: std::time::Duration::from_secs(
                    self.request_timeout_s
                        .or(file.request_timeout_s)
                        .unwrap_or(limits.request_timeout.as_secs())
                        .max(1),
                ),
                rate,
            },
        })
    }
}

#[derive(Subcommand)]
pub enum KeysAction {
    /// Create a key; its secret is shown once and only its hash is stored.
    Create {
        #[command(flatten)]
        data: DataDir,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long, default_value = "")]
        label: String,
        #[arg(long)]
        json: bool,
    },
    /// List keys (never their secrets).
    List {
        #[command(flatten)]
        data: DataDir,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id.
    Revoke {
        #[command(flatten)]
        data: DataDir,
        id: String,
    },
}

#[derive(Subcommand)]
pub enum AuditAction {
    /// Check the audit log's hash chain; names the first broken link.
    Verify {
        #[command(flatten)]
        data: DataDir,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse::<Role>().map_err(|e| e.to_string())
}

fn open_store(dir: &Path) -> anyhow::Result<SqliteStore> {
    let (crypto, source) = Crypto::load(dir)
        .with_context(|| format!("cannot load the master key for {}", dir.display()))?;
    if matches!(source, KeySource::CreatedFile) {
        eprintln!(
            "warning: created a new master key in {}; back it up: templates cannot be read without it",
            dir.display()
        );
    }
    SqliteStore::open(dir, crypto)
        .with_context(|| format!("cannot open the store in {}", dir.display()))
}

pub fn serve(ctx: &Context, args: &ServeArgs) -> anyhow::Result<u8> {
    let config = args.resolve()?;
    // Certificates are checked before the models load, so a typo fails in a second.
    let tls = match &config.tls {
        Some((cert, key)) => Some(facenet_server::tls::server_config(cert, key)?),
        None => None,
    };
    let store: Arc<dyn Store> = Arc::new(open_store(&config.data_dir)?);
    // There is no default key: the first start makes an admin key and shows it once.
    let has_admin = store
        .list_keys()?
        .iter()
        .any(|k| k.role == Role::Admin && k.revoked_at.is_none());
    if !has_admin {
        let (info, secret) = store.create_key(&AuditCtx::cli(), Role::Admin, "first admin")?;
        eprintln!("first admin key (shown once, id {}): {secret}", info.id);
    }
    let pipeline = Arc::new(ctx.pipeline()?);
    let auth = Arc::new(StoreKeys(store.clone()));
    let state = AppState::new(pipeline, config.batch, auth, store, config.limits)
        .context("cannot load the gallery")?;
    let scheme = if tls.is_some() {
        "https (TLS 1.3)"
    } else {
        "http"
    };
    facenet_server::serve_blocking(config.listen, state, tls, |addr| {
        tracing::info!(%addr, scheme, "serving");
        // Scripts wait for this line before they send requests.
        let _ = emit(&format!("listening on {addr}\n"));
    })
    .with_context(|| format!("cannot serve on {}", config.listen))?;
    Ok(exit::OK)
}

pub fn keys(action: &KeysAction) -> anyhow::Result<u8> {
    match action {
        KeysAction::Create {
            data,
            role,
            label,
            json,
        } => {
            let store = open_store(&data.data_dir)?;
            let (info, secret) = store.create_key(&AuditCtx::cli(), *role, label)?;
            if *json {
                let v = serde_json::json!({"id": info.id, "key": secret, "role": info.role});
                emit(&format!("{v}\n"))?;
            } else {
                emit(&format!(
                    "{secret}\n(id {}, role {}; the key is shown only now)\n",
                    info.id, info.role
                ))?;
            }
        }
        KeysAction::List { data, json } => {
            let keys = open_store(&data.data_dir)?.list_keys()?;
            if *json {
                emit(&format!("{}\n", serde_json::to_string(&keys)?))?;
            } else {
                let mut text = String::new();
                for k in keys {
                    let state = k
                        .revoked_at
                        .map_or("active".to_string(), |t| format!("revoked {t}"));
                    text += &format!("{}  {:8}  {}  {}\n", k.id, k.role.as_str(), state, k.label);
                }
                emit(&text)?;
            }
        }
        KeysAction::Revoke { data, id } => {
            let store = open_store(&data.data_dir)?;
            let k = store.revoke_key(&AuditCtx::cli(), id)?;
            emit(&format!("revoked {} ({})\n", k.id, k.role))?;
        }
    }
    Ok(exit::OK)
}

pub fn audit(action: &AuditAction) -> anyhow::Result<u8> {
    match action {
        AuditAction::Verify { data } => {
            let store = open_store(&data.data_dir)?;
            match store.verify_audit() {
                Ok(rows) => {
                    emit(&format!("audit log intact: {rows} rows\n"))?;
                    Ok(exit::OK)
                }
                Err(e) => {
                    eprintln!("audit log broken: {e}");
                    Ok(exit::FAILURE)
                }
            }
        }
    }
}
