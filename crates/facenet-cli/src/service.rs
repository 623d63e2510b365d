//! `facenet serve`, `facenet keys` and `facenet audit`: the service's commands over a data
//! directory (its SQLite store and master key).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use facenet_core::batch::BatchConfig;
use facenet_server::{AppState, Limits, StoreKeys};
use facenet_store::{AuditCtx, Crypto, KeySource, Role, SqliteStore, Store};

use crate::commands::{emit, Context};
use crate::exit;

#[derive(Args)]
pub struct DataDir {
    /// The service's data directory (database, master key).
    #[arg(long, default_value = "./data", value_name = "DIR")]
    data_dir: PathBuf,
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    data: DataDir,
    /// Address to listen on; loopback unless you mean to expose the service.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Largest faces-per-run of the embedding queue.
    #[arg(long, default_value_t = 32)]
    max_batch: usize,
    /// How long a request may wait for others to share its batch, in milliseconds.
    #[arg(long, default_value_t = 5)]
    max_wait_ms: u64,
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
    let store: Arc<dyn Store> = Arc::new(open_store(&args.data.data_dir)?);
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
    let batch = BatchConfig {
        max_batch: args.max_batch.max(1),
        max_wait: std::time::Duration::from_millis(args.max_wait_ms),
        ..BatchConfig::default()
    };
    let state = AppState::new(
        pipeline,
        batch,
        Arc::new(StoreKeys(store)),
        Limits::default(),
    );
    facenet_server::serve_blocking(args.listen, state, |addr| {
        // Scripts wait for this line before they send requests.
        let _ = emit(&format!("listening on {addr}\n"));
    })
    .with_context(|| format!("cannot serve on {}", args.listen))?;
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
