//! Prints an ONNX graph's nodes (op, name, inputs with initializer dims), to check how the
//! converter emitted the pretrained FaceNet: `cargo run --release --example onnx_graph -- FILE`.

use std::collections::HashMap;

use facenet_models::onnx::ModelProto;
use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: onnx_graph FILE.onnx")?;
    let model = ModelProto::decode(std::fs::read(&path)?.as_slice())?;
    let graph = model.graph.ok_or("no graph")?;
    let dims: HashMap<&str, &Vec<i64>> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), &t.dims))
        .collect();
    for n in &graph.node {
        let inputs: Vec<String> = n
            .input
            .iter()
            .map(|i| match dims.get(i.as_str()) {
                Some(d) => format!("{i}{d:?}"),
                None => i.clone(),
            })
            .collect();
        let attrs: Vec<String> = n
            .attribute
            .iter()
            .map(|a| format!("{}={:?}{}", a.name, a.ints, a.f))
            .collect();
        println!(
            "{} {} <- {} {}",
            n.op_type,
            n.name,
            inputs.join(", "),
            attrs.join(" ")
        );
    }
    println!(
        "inputs {:?}",
        graph.input.iter().map(|i| &i.name).collect::<Vec<_>>()
    );
    println!("outputs {:?}", graph.output);
    Ok(())
}
