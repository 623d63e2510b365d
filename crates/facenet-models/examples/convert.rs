//! Converts a FaceNet frozen graph to ONNX: `cargo run -p facenet-models --example convert -- IN.pb OUT.onnx`.
//! For checking the converter against a runtime; `facenet models fetch` is the normal path.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: convert GRAPH.pb OUT.onnx");
        return ExitCode::from(2);
    };
    let result = std::fs::read(input)
        .map_err(|e| format!("{input}: {e}"))
        .and_then(|pb| facenet_models::convert::graphdef_to_onnx(&pb).map_err(|e| e.to_string()))
        .and_then(|onnx| std::fs::write(output, onnx).map_err(|e| format!("{output}: {e}")));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
