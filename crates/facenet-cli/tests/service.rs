//! `facenet keys`, `facenet serve` and `facenet audit` together: keys made by the CLI are the
//! ones the running service accepts, a revocation takes effect at once, the first start shows
//! an admin key, and the audit chain holds.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_facenet");

fn cli(args: &[&str], data: &Path) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap()
}

fn create_key(data: &Path, role: &str) -> (String, String) {
    let out = cli(&["keys", "create", "--role", role, "--json"], data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["role"], role);
    (
        v["id"].as_str().unwrap().to_string(),
        v["key"].as_str().unwrap().to_string(),
    )
}

/// Status code of a plain HTTP/1.1 GET on loopback.
fn get(addr: &str, path: &str, key: Option<&str>) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    let auth = key.map_or(String::new(), |k| format!("x-api-key: {k}\r\n"));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: test\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp.split_whitespace().nth(1).unwrap().parse().unwrap()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn keys_from_the_cli_open_the_service_and_revocation_closes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (auditor_id, auditor) = create_key(&data, "auditor");
    let (_, client) = create_key(&data, "client");
    let bad = cli(&["keys", "create", "--role", "root"], &data);
    assert_eq!(bad.status.code(), Some(2), "unknown role is a usage error");

    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let addr = bound_address(&mut child);
    let server = Server(child);
    assert!(addr.starts_with("127.0.0.1:"));

    assert_eq!(get(&addr, "/healthz", None), 200);
    assert_eq!(get(&addr, "/metrics", None), 401);
    assert_eq!(get(&addr, "/metrics", Some("fn_not-a-key")), 401);
    assert_eq!(get(&addr, "/metrics", Some(&client)), 403);
    assert_eq!(get(&addr, "/metrics", Some(&auditor)), 200);

    // Revoked through the CLI while the service runs: refused on the next request.
    let out = cli(&["keys", "revoke", &auditor_id], &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(get(&addr, "/metrics", Some(&auditor)), 401);

    drop(server);
    let mut err = String::new();
    stderr.read_to_string(&mut err).unwrap();
    assert!(err.contains("first admin key"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let listed = cli(&["keys", "list", "--json"], &data);
    let keys: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 3, "auditor, client and the first admin");
    assert!(
        keys.iter().all(|k| k.get("key").is_none()),
        "secrets are never listed"
    );
    let revoked: Vec<_> = keys.iter().filter(|k| !k["revoked_at"].is_null()).collect();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["id"], auditor_id.as_str());

    let audit = cli(&["audit", "verify"], &data);
    assert!(
        audit.status.success(),
        "{}",
        String::from_utf8_lossy(&audit.stderr)
    );
    assert!(String::from_utf8_lossy(&audit.stdout).contains("intact"));
}

/// A request on a fresh connection; `(status, JSON body or Null)`. Errors (the server gone) are
/// returned, not unwrapped, so a burst can notice the kill.
fn request(
    addr: &str,
    method: &str,
    path: &str,
    key: &str,
    body: Option<&serde_json::Value>,
) -> std::io::Result<(u16, serde_json::Value)> {
    let mut s = TcpStream::connect(addr)?;
    let body = body.map_or(String::new(), |b| b.to_string());
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nx-api-key: {key}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status in {resp:?}")))?;
    let json = resp
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(serde_json::Value::Null);
    Ok((status, json))
}

/// Starts `facenet serve` on a free loopback port; returns it and its address.
fn start(data: &Path, extra: &[&str], envs: &[(&str, &str)]) -> (Server, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("serve").args(extra).arg("--data-dir").arg(data);
    if !extra.contains(&"--config") {
        cmd.args(["--listen", "127.0.0.1:0"]);
    }
    let mut child = cmd
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = bound_address(&mut child);
    (Server(child), addr)
}

/// Waits for serve's "listening on ADDR" line and returns ADDR.
fn bound_address(child: &mut std::process::Child) -> String {
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    line.trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string()
}

fn shared_photo(name: &str) -> Option<String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/photos/test_images")
        .join(name);
    match std::fs::read(&p) {
        Ok(bytes) => {
            use base64::Engine;
            Some(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        Err(_) => {
            eprintln!(
                "\n!!!!!!!! SKIPPED: {} not found (../shared is missing) !!!!!!!!\n",
                p.display()
            );
            None
        }
    }
}

/// kill -9 in the middle of a burst of enrolments: after a restart every acknowledged face is
/// there, the index equals the database, and the audit chain is intact.
#[test]
fn kill_9_during_enrolments_loses_no_acknowledged_face() {
    let Some(obama) = shared_photo("obama.jpg") else {
        return;
    };
    let Some(probe) = shared_photo("obama3.jpg") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (_, operator) = create_key(&data, "operator");
    let (_, client) = create_key(&data, "client");
    let (mut server, addr) = start(&data, &[], &[]);
    let (status, subject) = request(
        &addr,
        "POST",
        "/api/v1/subjects",
        &operator,
        Some(&serde_json::json!({ "name": "obama" })),
    )
    .unwrap();
    assert_eq!(status, 201);
    let sid = subject["id"].as_str().unwrap().to_owned();

    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let body = std::sync::Arc::new(serde_json::json!({ "image": obama }));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (addr, key, sid) = (addr.clone(), operator.clone(), sid.clone());
            let (acked, body) = (acked.clone(), body.clone());
            std::thread::spawn(move || loop {
                let path = format!("/api/v1/subjects/{sid}/faces");
                match request(&addr, "POST", &path, &key, Some(&body)) {
                    Ok((201, v)) => acked
                        .lock()
                        .unwrap()
                        .push(v["id"].as_str().unwrap().to_owned()),
                    Ok((status, v)) => panic!("enrolment refused: {status} {v}"),
                    // The server was killed: this request may or may not have landed.
                    Err(_) => return,
                }
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while acked.lock().unwrap().len() < 8 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SIGKILL: no shutdown hook, no flush.
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    for w in workers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 8,
        "only {} enrolments acknowledged",
        acked.len()
    );

    let (_server, addr) = start(&data, &[], &[]);
    let (status, faces) = request(
        &addr,
        "GET",
        &format!("/api/v1/subjects/{sid}/faces"),
        &operator,
        None,
    )
    .unwrap();
    assert_eq!(status, 200);
    let stored: std::collections::BTreeSet<String> = faces["faces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect();
    for id in &acked {
        assert!(stored.contains(id), "acknowledged face {id} lost");
    }
    // At most one request per worker was in flight when the process died.
    assert!(
        stored.len() <= acked.len() + 4,
        "{} vs {}",
        stored.len(),
        acked.len()
    );
    let (_, ready) = request(&addr, "GET", "/readyz", &operator, None).unwrap();
    assert_eq!(
        ready["gallery"]["faces"].as_u64(),
        Some(stored.len() as u64),
        "index differs from the database: {ready}"
    );
    let (status, v) = request(
        &addr,
        "POST",
        "/api/v1/recognize",
        &client,
        Some(&serde_json::json!({ "image": probe })),
    )
    .unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["faces"][0]["candidates"][0]["subject"], sid.as_str());
    let audit = cli(&["audit", "verify"], &data);
    assert!(
        audit.status.success(),
        "{}",
        String::from_utf8_lossy(&audit.stderr)
    );
}

/// Settings come from the flag, else the environment, else the TOML file.
#[test]
fn serve_reads_flags_environment_and_a_toml_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (_, operator) = create_key(&data, "operator");
    let config = tmp.path().join("facenet.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nlisten = \"127.0.0.1:0\"\nrate_limit = 1\nrate_burst = 2\nmax_body_bytes = 100000000\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    // The environment's body limit beats the file's.
    let (server, addr) = start(
        &data,
        &["--config", cfg],
        &[("FACENET_MAX_BODY_BYTES", "2000")],
    );
    let big = serde_json::json!({ "name": "x".repeat(5000) });
    let (status, v) = request(&addr, "POST", "/api/v1/subjects", &operator, Some(&big)).unwrap();
    assert_eq!(
        (status, &v["error"]["code"]),
        (413, &serde_json::json!("payload_too_large"))
    );
    let (status, _) = request(&addr, "GET", "/api/v1/subjects", &operator, None).unwrap();
    assert_eq!(status, 200);
    let (status, v) = request(&addr, "GET", "/api/v1/subjects", &operator, None).unwrap();
    assert_eq!(
        (status, &v["error"]["code"]),
        (429, &serde_json::json!("rate_limited"))
    );
    drop(server);

    // A flag beats the file: no rate limit at all.
    let (_server, addr) = start(&data, &["--config", cfg, "--rate-limit", "0"], &[]);
    for _ in 0..5 {
        let (status, _) = request(&addr, "GET", "/api/v1/subjects", &operator, None).unwrap();
        assert_eq!(status, 200);
    }

    // A file with an unknown setting is refused with its name.
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nrate_limits = 5\n").unwrap();
    let out = cli(&["serve", "--config", cfg], &data);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rate_limits"), "{err}");
}
