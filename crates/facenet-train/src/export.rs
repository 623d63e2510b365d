//! Trained weights back to the serving format: the pretrained package's ONNX graph with every
//! initializer the network owns replaced by its trained value (batch norm folded into the
//! convolutions of a scratch model), plus the package's MTCNN files and a manifest with fresh
//! digests and the training's provenance.
//!
//! Reusing the converted graph keeps the serving model op for op what `facenet-core` already
//! runs (dynamic batch, in-graph L2 normalisation), so the exported package loads like the
//! pretrained one.

use std::path::Path;

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use facenet_core::manifest::{self, ModelPackage, MANIFEST_FILE};
use facenet_models::onnx::{data_type, tensor_shape_proto, type_proto, ModelProto, TensorProto};
use prost::Message;
use serde::Serialize;

use crate::error::{io_err, Error, Result};
use crate::inception_resnet_v1::{ConvUnit, InceptionResnetV1};
use crate::weights::PretrainedWeights;

/// The embedder's file name inside an exported package.
pub const EMBEDDER_FILE: &str = "facenet.onnx";

pub(crate) fn to_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .map_err(|e| Error::Invalid(format!("tensor readback: {e:?}")))
}

/// A convolution's effective kernel `[out, in, kh, kw]` and bias, with batch norm (inference
/// statistics) folded in: `w * gamma / sqrt(var + eps)`, `beta - mean * gamma / sqrt(var + eps)`.
pub fn folded_conv<B: Backend>(u: &ConvUnit<B>) -> Result<(Vec<f32>, Vec<f32>)> {
    let mut w = to_vec(u.conv.weight.val())?;
    let cout = u.conv.weight.dims()[0];
    let mut b = match &u.conv.bias {
        Some(b) => to_vec(b.val())?,
        None => vec![0.0; cout],
    };
    if let Some(bn) = &u.bn {
        let gamma = to_vec(bn.gamma.val())?;
        let beta = to_vec(bn.beta.val())?;
        let mean = to_vec(bn.running_mean.value())?;
        let var = to_vec(bn.running_var.value())?;
        let per = w.len() / cout.max(1);
        for o in 0..cout {
            let k = gamma[o] / (var[o] + bn.epsilon as f32).sqrt();
            for v in &mut w[o * per..(o + 1) * per] {
                *v *= k;
            }
            b[o] = beta[o] + (b[o] - mean[o]) * k;
        }
    }
    Ok((w, b))
}

fn set_initializer(
    model: &mut ModelProto,
    name: &str,
    values: &[f32],
    dims: Option<Vec<i64>>,
) -> Result<()> {
    let graph = model
        .graph
        .as_mut()
        .ok_or_else(|| Error::Graph("the model has no graph".into()))?;
    let t = graph
        .initializer
        .iter_mut()
        .find(|t| t.name == name)
        .ok_or_else(|| Error::Graph(format!("no initializer {name}")))?;
    if let Some(d) = dims {
        t.dims = d;
    }
    let want: i64 = t.dims.iter().product();
    if want != values.len() as i64 {
        return Err(Error::Graph(format!(
            "{name}: {} trained values for dims {:?}",
            values.len(),
            t.dims
        )));
    }
    *t = TensorProto {
        float_data: Vec::new(),
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        data_type: data_type::FLOAT,
        ..t.clone()
    };
    Ok(())
}

/// The serving ONNX model for `net`, built on the pretrained graph `base`.
pub fn onnx_model<B: Backend>(
    net: &InceptionResnetV1<B>,
    base: &PretrainedWeights,
) -> Result<ModelProto> {
    let mut model = base.model.clone();
    let units = net.conv_units();
    if units.len() != base.conv_count() {
        return Err(Error::Graph(format!(
            "the network has {} convolutions, the graph {}",
            units.len(),
            base.conv_count()
        )));
    }
    for u in units {
        let slots = base.conv_slots(&u.scope)?.clone();
        let (w, b) = folded_conv(u)?;
        set_initializer(&mut model, &slots.weight, &w, None)?;
        set_initializer(&mut model, &slots.bias, &b, None)?;
    }
    let s = base.bottleneck_slots().clone();
    let bn = &net.bottleneck.bn;
    let [cin, emb] = net.bottleneck.linear.weight.dims();
    let e = emb as i64;
    set_initializer(
        &mut model,
        &s.weight,
        &to_vec(net.bottleneck.linear.weight.val())?,
        Some(vec![cin as i64, e]),
    )?;
    set_initializer(
        &mut model,
        &s.gamma,
        &to_vec(bn.gamma.val())?,
        Some(vec![e]),
    )?;
    set_initializer(&mut model, &s.beta, &to_vec(bn.beta.val())?, Some(vec![e]))?;
    set_initializer(
        &mut model,
        &s.mean,
        &to_vec(bn.running_mean.value())?,
        Some(vec![e]),
    )?;
    set_initializer(
        &mut model,
        &s.var,
        &to_vec(bn.running_var.value())?,
        Some(vec![e]),
    )?;
    resize_embedding(&mut model, base.embedding_size(), emb)?;
    Ok(model)
}

/// A bottleneck of another width than the pretrained one: the Reshape targets that name the
/// old width and the graph output's last dimension follow it.
fn resize_embedding(model: &mut ModelProto, old: usize, new: usize) -> Result<()> {
    if old == new {
        return Ok(());
    }
    let graph = model
        .graph
        .as_mut()
        .ok_or_else(|| Error::Graph("the model has no graph".into()))?;
    let reshape_shapes: Vec<String> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "Reshape")
        .filter_map(|n| n.input.get(1).cloned())
        .collect();
    for t in graph.initializer.iter_mut() {
        if t.data_type != data_type::INT64 || !reshape_shapes.contains(&t.name) {
            continue;
        }
        let mut v: Vec<i64> = if t.raw_data.is_empty() {
            t.int64_data.clone()
        } else {
            t.raw_data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect()
        };
        if v.last() == Some(&(old as i64)) {
            if let Some(l) = v.last_mut() {
                *l = new as i64;
            }
            t.raw_data = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            t.int64_data.clear();
        }
    }
    for o in graph.output.iter_mut() {
        if let Some(type_proto::Value::TensorType(tt)) =
            o.r#type.as_mut().and_then(|t| t.value.as_mut())
        {
            if let Some(d) = tt.shape.as_mut().and_then(|s| s.dim.last_mut()) {
                if d.value == Some(tensor_shape_proto::dimension::Value::DimValue(old as i64)) {
                    d.value = Some(tensor_shape_proto::dimension::Value::DimValue(new as i64));
                }
            }
        }
    }
    Ok(())
}

/// What the manifest records about how the model was made.
#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    pub tool: String,
    pub loss: String,
    pub init: String,
    pub base_model: String,
    pub base_embedder_sha256: String,
    pub data_dir: String,
    pub classes: usize,
    pub images: usize,
    pub steps: u64,
    pub epochs: u64,
    pub optimizer: String,
    pub learning_rate: f64,
    pub settings: serde_json::Value,
    pub finished_unix: u64,
}

/// Writes `out_dir` as a model package: the trained embedder, the base package's MTCNN files,
/// and `manifest.json`. It is reopened through the manifest's digest check before returning.
pub fn write_package<B: Backend>(
    net: &InceptionResnetV1<B>,
    base_pkg: &ModelPackage,
    base: &PretrainedWeights,
    provenance: &Provenance,
    out_dir: &Path,
) -> Result<ModelPackage> {
    std::fs::create_dir_all(out_dir).map_err(io_err(out_dir))?;
    let bytes = onnx_model(net, base)?.encode_to_vec();
    let emb_path = out_dir.join(EMBEDDER_FILE);
    std::fs::write(&emb_path, &bytes).map_err(io_err(&emb_path))?;
    let m = &base_pkg.manifest;
    let mut files = m.files.clone();
    for f in [&mut files.pnet, &mut files.rnet, &mut files.onet] {
        let src = base_pkg.file_path(f)?;
        let name = Path::new(&f.path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                Error::Invalid(format!("odd file path {:?} in the base manifest", f.path))
            })?;
        let dst = out_dir.join(&name);
        std::fs::copy(&src, &dst).map_err(io_err(&dst))?;
        f.path = name;
    }
    files.embedder = manifest::ModelFile {
        path: EMBEDDER_FILE.into(),
        sha256: manifest::sha256_bytes(&bytes),
        source: manifest::Source {
            package: "facenet-train".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            archive: String::new(),
            archive_sha256: String::new(),
            member: base_pkg
                .file_path(&m.files.embedder)?
                .display()
                .to_string(),
            member_sha256: m.files.embedder.sha256.clone(),
            conversion: format!(
                "trained by facenet train ({} loss, {} init), initializers of the base graph replaced",
                provenance.loss, provenance.init
            ),
        },
    };
    let mut new = m.clone();
    // Another name than the pretrained package's, so `models verify` holds it to its own
    // manifest digests instead of the pinned pretrained ones.
    new.name = format!("{}-{}-trained", m.name, provenance.loss);
    new.version = format!("{}+train.{}", m.version, provenance.steps);
    new.embedding_size = net.bottleneck.linear.weight.dims()[1];
    new.files = files;
    let mut json = serde_json::to_value(&new).map_err(|e| Error::Invalid(e.to_string()))?;
    if let Some(obj) = json.as_object_mut() {
        obj.insert(
            "training".into(),
            serde_json::to_value(provenance).map_err(|e| Error::Invalid(e.to_string()))?,
        );
    }
    let text = serde_json::to_string_pretty(&json).map_err(|e| Error::Invalid(e.to_string()))?;
    let mpath = out_dir.join(MANIFEST_FILE);
    std::fs::write(&mpath, text).map_err(io_err(&mpath))?;
    Ok(ModelPackage::open(out_dir)?)
}
