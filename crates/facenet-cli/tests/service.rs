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
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
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
