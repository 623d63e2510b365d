#!/usr/bin/env bash
# The whole test suite: builds, makes sure the pinned models are fetched and verified (tests run
# the real networks), then runs every test of the workspace in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p facenet-cli
target/release/facenet models fetch
cargo test --release --workspace
