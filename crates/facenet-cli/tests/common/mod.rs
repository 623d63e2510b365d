//! Running the `facenet` binary from the end-to-end tests.
#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::process::Command;

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_facenet");

/// One finished run of the binary; constructing it already failed the test on a panic or a
/// signal.
pub struct Run {
    pub what: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "{}: stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.what, self.stdout, self.stderr
            )
        })
    }

    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "{}: exit code {} (want {code})\nstdout:\n{}\nstderr:\n{}",
            self.what, self.code, self.stdout, self.stderr
        );
        self
    }
}

pub fn facenet<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let what = format!(
        "facenet {}",
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let out = Command::new(BIN)
        .args(&args)
        .env_remove("FACENET_LOG")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
    let code = out.status.code().unwrap_or_else(|| {
        panic!(
            "{what}: killed by a signal ({:?})\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("panicked"),
        "{what}: the binary panicked:\n{stderr}"
    );
    Run {
        what,
        code,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    }
}

/// `../shared` beside the checkout (or `$FACENET_SHARED`) when it holds LFW; `None`, with a loud
/// message naming `what` was skipped, when it does not.
pub fn shared_lfw(what: &str) -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("FACENET_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
        });
    if dir.join("data/lfw/images").is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "\n!!!!! SKIPPED {what}: no shared LFW data at {} !!!!!\n",
            dir.display()
        );
        None
    }
}
