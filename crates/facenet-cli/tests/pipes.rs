//! A reader that closes early (`facenet embed ... | head -c 100`) must not make the CLI panic.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};

#[test]
fn closed_stdout_is_not_a_panic() {
    let photo = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/photos/test_images/obama.jpg");
    if !photo.is_file() {
        eprintln!("\n!!!!! SKIPPED closed_stdout_is_not_a_panic: no shared photos !!!!!\n");
        return;
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_facenet"))
        .args(["embed", "--json"])
        // About 10 KB of JSON each: well past a 64 KB pipe buffer.
        .args(std::iter::repeat_n(&photo, 12))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The pipe's read end is dropped here, before the 512 floats are all written.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(&first[..11], b"{\"images\":[");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
