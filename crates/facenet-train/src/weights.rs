//! Reads the pretrained parameters out of the package's converted ONNX graph.
//!
//! The converter names each `Conv` node after its TensorFlow node (`<scope>/Conv2D`), keeps the
//! kernel as an OIHW initializer and writes the folded batch-norm bias as the constant operand of
//! the `Add` that reads the convolution. The bottleneck is the graph's only `MatMul` (1792×512)
//! followed by its only `BatchNormalization`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use facenet_models::onnx::{data_type, ModelProto, NodeProto, TensorProto};
use prost::Message;

use crate::error::{io_err, Error, Result};

/// A tensor on the host, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor<const D: usize> {
    pub data: Vec<f32>,
    pub shape: [usize; D],
}

pub struct ConvWeights {
    /// `[out, in, kh, kw]`.
    pub weight: HostTensor<4>,
    pub bias: HostTensor<1>,
}

pub struct BottleneckWeights {
    /// `[1792, embedding]`, as `x @ w`.
    pub weight: HostTensor<2>,
    pub gamma: HostTensor<1>,
    pub beta: HostTensor<1>,
    pub mean: HostTensor<1>,
    pub var: HostTensor<1>,
    pub epsilon: f64,
}

/// Where each trainable tensor lives in the graph, by initializer name.
#[derive(Debug, Clone)]
pub struct ConvSlots {
    pub weight: String,
    pub bias: String,
}

#[derive(Debug, Clone)]
pub struct BottleneckSlots {
    pub weight: String,
    pub gamma: String,
    pub beta: String,
    pub mean: String,
    pub var: String,
}

pub struct PretrainedWeights {
    pub path: PathBuf,
    pub model: ModelProto,
    initializers: HashMap<String, usize>,
    convs: HashMap<String, ConvSlots>,
    bottleneck: BottleneckSlots,
    epsilon: f64,
}

impl PretrainedWeights {
    pub fn open(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(io_err(path))?;
        let model = ModelProto::decode(bytes.as_slice()).map_err(|source| Error::Decode {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_model(path, model)
    }

    pub fn from_model(path: &Path, model: ModelProto) -> Result<Self> {
        let graph = model
            .graph
            .as_ref()
            .ok_or_else(|| Error::Graph("the model has no graph".into()))?;
        let initializers: HashMap<String, usize> = graph
            .initializer
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        let mut consumers: HashMap<&str, Vec<&NodeProto>> = HashMap::new();
        for n in &graph.node {
            for i in &n.input {
                consumers.entry(i.as_str()).or_default().push(n);
            }
        }
        let mut convs = HashMap::new();
        for n in graph.node.iter().filter(|n| n.op_type == "Conv") {
            let Some((scope, _)) = n.name.rsplit_once('/') else {
                continue;
            };
            let weight = n
                .input
                .get(1)
                .filter(|w| initializers.contains_key(*w))
                .ok_or_else(|| Error::Graph(format!("Conv {} has no constant kernel", n.name)))?
                .clone();
            let bias = match n.input.get(2) {
                Some(b) => Some(b.clone()),
                None => n.output.first().and_then(|o| {
                    consumers.get(o.as_str()).and_then(|cs| {
                        cs.iter().filter(|c| c.op_type == "Add").find_map(|c| {
                            c.input
                                .iter()
                                .find(|i| initializers.contains_key(*i))
                                .cloned()
                        })
                    })
                }),
            }
            .ok_or_else(|| Error::Graph(format!("Conv {} has no constant bias", n.name)))?;
            convs.insert(scope.to_string(), ConvSlots { weight, bias });
        }
        let only = |op: &str| -> Result<&NodeProto> {
            let mut it = graph.node.iter().filter(|n| n.op_type == op);
            match (it.next(), it.next()) {
                (Some(n), None) => Ok(n),
                _ => Err(Error::Graph(format!("expected exactly one {op} node"))),
            }
        };
        let matmul = only("MatMul")?;
        let bn = only("BatchNormalization")?;
        let input = |n: &NodeProto, i: usize| -> Result<String> {
            n.input
                .get(i)
                .filter(|x| initializers.contains_key(*x))
                .cloned()
                .ok_or_else(|| Error::Graph(format!("{} input {i} is not a constant", n.name)))
        };
        let epsilon = bn
            .attribute
            .iter()
            .find(|a| a.name == "epsilon")
            .map(|a| f64::from(a.f))
            .unwrap_or(1e-5);
        let bottleneck = BottleneckSlots {
            weight: input(matmul, 1)?,
            gamma: input(bn, 1)?,
            beta: input(bn, 2)?,
            mean: input(bn, 3)?,
            var: input(bn, 4)?,
        };
        Ok(PretrainedWeights {
            path: path.to_path_buf(),
            model,
            initializers,
            convs,
            bottleneck,
            epsilon,
        })
    }

    pub fn conv_slots(&self, scope: &str) -> Result<&ConvSlots> {
        self.convs
            .get(scope)
            .ok_or_else(|| Error::Graph(format!("no Conv node under scope {scope}")))
    }

    pub fn bottleneck_slots(&self) -> &BottleneckSlots {
        &self.bottleneck
    }

    pub fn bottleneck_epsilon(&self) -> f64 {
        self.epsilon
    }

    pub fn initializer(&self, name: &str) -> Result<&TensorProto> {
        let graph = self
            .model
            .graph
            .as_ref()
            .ok_or_else(|| Error::Graph("the model has no graph".into()))?;
        self.initializers
            .get(name)
            .and_then(|&i| graph.initializer.get(i))
            .ok_or_else(|| Error::Graph(format!("no initializer {name}")))
    }

    fn read<const D: usize>(&self, name: &str, shape: [usize; D]) -> Result<HostTensor<D>> {
        let t = self.initializer(name)?;
        let data = tensor_f32(t)?;
        let want: usize = shape.iter().product();
        if data.len() != want {
            return Err(Error::Graph(format!(
                "{name} has {} values (dims {:?}), expected shape {shape:?}",
                data.len(),
                t.dims
            )));
        }
        Ok(HostTensor { data, shape })
    }

    pub fn conv(&self, scope: &str, shape: [usize; 4]) -> Result<ConvWeights> {
        let slots = self.conv_slots(scope)?;
        Ok(ConvWeights {
            weight: self.read(&slots.weight, shape)?,
            bias: self.read(&slots.bias, [shape[0]])?,
        })
    }

    pub fn bottleneck(&self, embedding_size: usize) -> Result<BottleneckWeights> {
        let s = &self.bottleneck;
        let e = [embedding_size];
        Ok(BottleneckWeights {
            weight: self.read(
                &s.weight,
                [
                    crate::inception_resnet_v1::PRELOGITS_CHANNELS,
                    embedding_size,
                ],
            )?,
            gamma: self.read(&s.gamma, e)?,
            beta: self.read(&s.beta, e)?,
            mean: self.read(&s.mean, e)?,
            var: self.read(&s.var, e)?,
            epsilon: self.epsilon,
        })
    }

    /// The bottleneck's width (512 for the pretrained model).
    pub fn embedding_size(&self) -> usize {
        self.initializer(&self.bottleneck.weight)
            .ok()
            .and_then(|t| t.dims.get(1).copied())
            .map_or(0, |d| d as usize)
    }

    /// How many convolutions the graph has (the network has 132).
    pub fn conv_count(&self) -> usize {
        self.convs.len()
    }
}

/// The float values of an initializer, from `raw_data` or `float_data`.
pub fn tensor_f32(t: &TensorProto) -> Result<Vec<f32>> {
    if t.data_type != data_type::FLOAT {
        return Err(Error::Graph(format!("{} is not float32", t.name)));
    }
    if !t.raw_data.is_empty() {
        if !t.raw_data.len().is_multiple_of(4) {
            return Err(Error::Graph(format!(
                "{} raw data is not whole floats",
                t.name
            )));
        }
        return Ok(t
            .raw_data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect());
    }
    Ok(t.float_data.clone())
}
