//! TensorFlow frozen `GraphDef` → ONNX, for the op set of FaceNet's Inception-ResNet-v1.
//!
//! TensorFlow computes in NHWC while ONNX's Conv and pooling are NCHW. Rather than wrap every op
//! in transposes, each tensor carries its layout: the input is transposed once, rank-4 tensors
//! stay NCHW through convolutions, pools, concats and element-wise ops, and a tensor goes back to
//! TensorFlow's order only where an op depends on memory order (a Reshape that mixes channels and
//! space). Shapes are tracked in TensorFlow's logical order, so attributes (axes, pads) are
//! remapped from the TensorFlow side.
//!
//! The frozen graph bakes a batch of 1 into its Placeholder and its Reshape targets. The
//! Placeholder's first dimension becomes the symbolic `batch`, and a Reshape target whose first
//! entry is that baked 1 becomes 0, which ONNX's Reshape reads as "copy the input's dimension".

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use prost::Message;

use crate::onnx::{self, AttributeProto, Dim, NodeProto, TensorProto, ValueInfoProto};
use crate::tf::{self, attr_value::Value as Attr, GraphDef, NodeDef};

pub const OPSET: i64 = 17;
pub const IR_VERSION: i64 = 8;
/// The symbolic name of the batch dimension in the ONNX model's input and output.
pub const BATCH_DIM: &str = "batch";

/// FaceNet's input and output node names in the frozen graph.
pub const FACENET_INPUT: &str = "input";
pub const FACENET_OUTPUT: &str = "embeddings";

/// A typed value list can claim a large shape in a few bytes; this bounds what it may expand to
/// (1 GiB of float32, ten times FaceNet's largest weight).
const MAX_CONST_ELEMENTS: usize = 1 << 28;

/// Op types the converter maps; anything else in the used part of a graph is refused by name.
pub const SUPPORTED_OPS: &[&str] = &[
    "Placeholder",
    "Const",
    "Identity",
    "Conv2D",
    "BiasAdd",
    "Relu",
    "ConcatV2",
    "Add",
    "AddV2",
    "Sub",
    "Mul",
    "RealDiv",
    "Maximum",
    "Minimum",
    "Square",
    "Sqrt",
    "Rsqrt",
    "MaxPool",
    "AvgPool",
    "MatMul",
    "FusedBatchNorm",
    "FusedBatchNormV3",
    "Reshape",
    "Sum",
    "Mean",
];

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("not a TensorFlow GraphDef: {0}")]
    Decode(#[from] prost::DecodeError),
    #[error("the graph has no node named {0:?}")]
    MissingNode(String),
    #[error("node {node:?}: op {op:?} is not supported by the converter (it maps: {supported})")]
    UnsupportedOp {
        node: String,
        op: String,
        supported: String,
    },
    #[error("node {node:?} ({op}): {reason}")]
    Invalid {
        node: String,
        op: String,
        reason: String,
    },
    #[error("the graph has a cycle through node {0:?}")]
    Cycle(String),
}

/// Written into the ONNX file. Bump it whenever the converter's output changes: together with
/// the pinned source graph it fixes the converted model's SHA-256 (`fetch::FACENET_ONNX_SHA256`).
pub const CONVERTER_VERSION: &str = "1";

/// Converts FaceNet's frozen graph (input `input`, output `embeddings`) to a serialized ONNX
/// model with a dynamic batch.
pub fn graphdef_to_onnx(pb: &[u8]) -> Result<Vec<u8>, ConvertError> {
    let graph = GraphDef::decode(pb)?;
    let model = convert_graph(&graph, FACENET_INPUT, FACENET_OUTPUT)?;
    Ok(model.encode_to_vec())
}

/// Converts the part of `graph` that `output` depends on. Every Placeholder reached becomes a
/// graph input; `input` names the one expected, so a graph with a different feed is refused.
pub fn convert_graph(
    graph: &GraphDef,
    input: &str,
    output: &str,
) -> Result<onnx::ModelProto, ConvertError> {
    let mut conv = Converter::new(graph);
    let order = conv.topo_order(output)?;
    for node in order {
        if node.op == "Placeholder" && node.name != input {
            return Err(invalid(
                node,
                format!("the graph needs a second input besides {input:?}"),
            ));
        }
        conv.convert_node(node)?;
    }
    conv.finish(output)
}

/// Where a rank-4 tensor keeps its channels. Shapes are always recorded in TensorFlow order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Layout {
    /// Same memory order as TensorFlow (NHWC for images).
    Tf,
    /// Rank 4 stored as NCHW.
    Nchw,
}

const TO_NCHW: [usize; 4] = [0, 3, 1, 2];
const TO_NHWC: [usize; 4] = [0, 2, 3, 1];

#[derive(Debug, Clone, PartialEq)]
enum ConstData {
    F32(Vec<f32>),
    /// Integer constants (shapes, axes) widened from int32.
    I64(Vec<i64>),
}

#[derive(Debug)]
struct ConstTensor {
    /// The TensorFlow node it came from, used to name initializers.
    name: String,
    dims: Vec<i64>,
    data: ConstData,
}

#[derive(Debug, Clone)]
struct Dynamic {
    /// ONNX tensor name.
    name: String,
    /// In TensorFlow order; `None` for the batch or another unknown size.
    shape: Vec<Option<i64>>,
    layout: Layout,
}

#[derive(Debug, Clone)]
enum Value {
    Const(Rc<ConstTensor>),
    Dyn(Dynamic),
}

struct Converter<'g> {
    nodes: HashMap<&'g str, &'g NodeDef>,
    values: HashMap<String, Value>,
    graph: onnx::GraphProto,
    used_names: HashSet<String>,
    /// Layout conversions already emitted, so a tensor is transposed at most once per layout.
    relayout: HashMap<(String, Layout), String>,
    /// Initializers already emitted, by constant name and the form it was written in.
    initializers: HashMap<(String, String), String>,
    /// Constants whose own name is already used by one of their initializers.
    const_named: HashSet<String>,
    /// The batch size frozen into the Placeholder, which Reshape targets repeat.
    baked_batch: Option<i64>,
}

fn invalid(node: &NodeDef, reason: impl Into<String>) -> ConvertError {
    ConvertError::Invalid {
        node: node.name.clone(),
        op: node.op.clone(),
        reason: reason.into(),
    }
}

/// Splits `node:k` into the node and output index; control inputs (`^node`) give `None`.
fn parse_input(s: &str) -> Option<(&str, usize)> {
    if s.starts_with('^') {
        return None;
    }
    match s.rsplit_once(':') {
        Some((node, idx)) => match idx.parse() {
            Ok(k) => Some((node, k)),
            Err(_) => Some((s, 0)),
        },
        None => Some((s, 0)),
    }
}

fn tensor_key(node: &str, k: usize) -> String {
    if k == 0 {
        node.to_string()
    } else {
        format!("{node}:{k}")
    }
}

impl<'g> Converter<'g> {
    fn new(graph: &'g GraphDef) -> Self {
        let nodes: HashMap<&str, &NodeDef> =
            graph.node.iter().map(|n| (n.name.as_str(), n)).collect();
        let used_names = graph.node.iter().map(|n| n.name.clone()).collect();
        Converter {
            nodes,
            values: HashMap::new(),
            graph: onnx::GraphProto {
                name: "facenet".into(),
                ..Default::default()
            },
            used_names,
            relayout: HashMap::new(),
            initializers: HashMap::new(),
            const_named: HashSet::new(),
            baked_batch: None,
        }
    }

    /// Post-order over the data inputs of `output`, so each node comes after what it reads.
    /// Iterative, since Inception graphs are deep enough to worry a recursive walk.
    fn topo_order(&self, output: &str) -> Result<Vec<&'g NodeDef>, ConvertError> {
        let root = *self
            .nodes
            .get(output)
            .ok_or_else(|| ConvertError::MissingNode(output.to_string()))?;
        let mut order = Vec::new();
        let mut done: HashSet<&str> = HashSet::new();
        let mut on_stack: HashSet<&str> = HashSet::new();
        let mut stack: Vec<(&NodeDef, usize)> = vec![(root, 0)];
        on_stack.insert(root.name.as_str());
        while let Some((node, next)) = stack.pop() {
            let pending = node.input[next..]
                .iter()
                .enumerate()
                .find_map(|(i, s)| parse_input(s).map(|(name, _)| (next + i, name)));
            match pending {
                Some((i, name)) => {
                    stack.push((node, i + 1));
                    if done.contains(name) {
                        continue;
                    }
                    if on_stack.contains(name) {
                        return Err(ConvertError::Cycle(name.to_string()));
                    }
                    let child = *self
                        .nodes
                        .get(name)
                        .ok_or_else(|| ConvertError::MissingNode(name.to_string()))?;
                    on_stack.insert(child.name.as_str());
                    stack.push((child, 0));
                }
                None => {
                    on_stack.remove(node.name.as_str());
                    if done.insert(node.name.as_str()) {
                        order.push(node);
                    }
                }
            }
        }
        Ok(order)
    }

    fn fresh(&mut self, base: &str) -> String {
        if self.used_names.insert(base.to_string()) {
            return base.to_string();
        }
        let mut i = 1;
        loop {
            let candidate = format!("{base}_{i}");
            if self.used_names.insert(candidate.clone()) {
                return candidate;
            }
            i += 1;
        }
    }

    fn emit(
        &mut self,
        name: &str,
        op_type: &str,
        inputs: Vec<String>,
        output: &str,
        attribute: Vec<AttributeProto>,
    ) {
        self.graph.node.push(NodeProto {
            input: inputs,
            output: vec![output.to_string()],
            name: name.to_string(),
            op_type: op_type.to_string(),
            attribute,
            ..Default::default()
        });
    }

    fn data_inputs(&self, node: &NodeDef) -> Result<Vec<Value>, ConvertError> {
        node.input
            .iter()
            .filter_map(|s| parse_input(s))
            .map(|(name, k)| {
                self.values.get(&tensor_key(name, k)).cloned().ok_or_else(|| {
                    let producer = self.nodes.get(name).map(|n| n.op.as_str()).unwrap_or("?");
                    invalid(
                        node,
                        format!("input {name}:{k} is not available (output {k} of a {producer} node is not supported)"),
                    )
                })
            })
            .collect()
    }

    fn convert_node(&mut self, node: &NodeDef) -> Result<(), ConvertError> {
        let inputs = self.data_inputs(node)?;
        let expect = |n: usize| -> Result<(), ConvertError> {
            if inputs.len() == n {
                Ok(())
            } else {
                Err(invalid(
                    node,
                    format!("expected {n} inputs, found {}", inputs.len()),
                ))
            }
        };
        let value = match node.op.as_str() {
            "Placeholder" => self.placeholder(node)?,
            "Const" => Value::Const(Rc::new(read_const(node)?)),
            "Identity" => {
                expect(1)?;
                inputs[0].clone()
            }
            "Conv2D" => {
                expect(2)?;
                self.conv2d(node, &inputs[0], &inputs[1])?
            }
            "BiasAdd" => {
                expect(2)?;
                check_nhwc(node)?;
                self.binary(node, "Add", &inputs[0], &inputs[1])?
            }
            "Relu" | "Sqrt" => {
                expect(1)?;
                let x = dynamic(node, &inputs[0])?;
                self.unary(&node.op, &x, &node.name)?
            }
            "Rsqrt" => {
                expect(1)?;
                let x = dynamic(node, &inputs[0])?;
                let sqrt_name = self.fresh(&format!("{}/sqrt", node.name));
                let sqrt = self.unary("Sqrt", &x, &sqrt_name)?;
                let sqrt = dynamic(node, &sqrt)?;
                self.unary("Reciprocal", &sqrt, &node.name)?
            }
            "Square" => {
                expect(1)?;
                self.binary(node, "Mul", &inputs[0], &inputs[0])?
            }
            "Add" | "AddV2" => {
                expect(2)?;
                self.binary(node, "Add", &inputs[0], &inputs[1])?
            }
            "Sub" => {
                expect(2)?;
                self.binary(node, "Sub", &inputs[0], &inputs[1])?
            }
            "Mul" => {
                expect(2)?;
                self.binary(node, "Mul", &inputs[0], &inputs[1])?
            }
            "RealDiv" => {
                expect(2)?;
                self.binary(node, "Div", &inputs[0], &inputs[1])?
            }
            "Maximum" => {
                expect(2)?;
                self.binary(node, "Max", &inputs[0], &inputs[1])?
            }
            "Minimum" => {
                expect(2)?;
                self.binary(node, "Min", &inputs[0], &inputs[1])?
            }
            "ConcatV2" => self.concat(node, &inputs)?,
            "MaxPool" | "AvgPool" => {
                expect(1)?;
                self.pool(node, &inputs[0])?
            }
            "MatMul" => {
                expect(2)?;
                self.matmul(node, &inputs[0], &inputs[1])?
            }
            "FusedBatchNorm" | "FusedBatchNormV3" => self.batch_norm(node, &inputs)?,
            "Reshape" => {
                expect(2)?;
                self.reshape(node, &inputs[0], &inputs[1])?
            }
            "Sum" | "Mean" => {
                expect(2)?;
                self.reduce(node, &inputs[0], &inputs[1])?
            }
            other => {
                return Err(ConvertError::UnsupportedOp {
                    node: node.name.clone(),
                    op: other.to_string(),
                    supported: SUPPORTED_OPS.join(", "),
                })
            }
        };
        self.values.insert(node.name.clone(), value);
        Ok(())
    }

    fn placeholder(&mut self, node: &NodeDef) -> Result<Value, ConvertError> {
        if let Some(t) = attr_type(node, "dtype") {
            if t != tf::dtype::FLOAT {
                return Err(invalid(node, format!("input dtype {t} is not float32")));
            }
        }
        let dims = match node.attr.get("shape").and_then(|a| a.value.as_ref()) {
            Some(Attr::Shape(s)) if !s.unknown_rank => {
                s.dim.iter().map(|d| d.size).collect::<Vec<_>>()
            }
            _ => return Err(invalid(node, "the input has no known shape")),
        };
        let mut shape: Vec<Option<i64>> = dims.iter().map(|&d| (d >= 0).then_some(d)).collect();
        if let Some(first) = shape.first_mut() {
            self.baked_batch = *first;
            *first = None;
        }
        let mut onnx_dims = vec![Dim::Param(BATCH_DIM.into())];
        for (i, d) in shape.iter().enumerate().skip(1) {
            onnx_dims.push(match d {
                Some(v) => Dim::Fixed(*v),
                None => Dim::Param(format!("{}_{i}", node.name)),
            });
        }
        self.graph.input.push(ValueInfoProto::tensor(
            &node.name,
            onnx::data_type::FLOAT,
            &onnx_dims,
        ));
        Ok(Value::Dyn(Dynamic {
            name: node.name.clone(),
            shape,
            layout: Layout::Tf,
        }))
    }

    /// The tensor in the requested layout, transposing (once) if needed.
    fn in_layout(&mut self, x: &Dynamic, layout: Layout) -> Dynamic {
        if x.layout == layout || x.shape.len() != 4 {
            return Dynamic {
                layout: if x.shape.len() == 4 {
                    x.layout
                } else {
                    Layout::Tf
                },
                ..x.clone()
            };
        }
        let key = (x.name.clone(), layout);
        let name = match self.relayout.get(&key) {
            Some(n) => n.clone(),
            None => {
                let (suffix, perm) = match layout {
                    Layout::Nchw => ("to_nchw", TO_NCHW),
                    Layout::Tf => ("to_nhwc", TO_NHWC),
                };
                let name = self.fresh(&format!("{}/{suffix}", x.name));
                let perm = perm.iter().map(|&p| p as i64).collect();
                self.emit(
                    &name,
                    "Transpose",
                    vec![x.name.clone()],
                    &name,
                    vec![AttributeProto::ints("perm", perm)],
                );
                self.relayout.insert(key, name.clone());
                name
            }
        };
        Dynamic {
            name,
            shape: x.shape.clone(),
            layout,
        }
    }

    /// Writes a constant as an initializer, once per form, named after its TensorFlow node.
    fn initializer(
        &mut self,
        c: &ConstTensor,
        form: &str,
        make: impl FnOnce(&str) -> TensorProto,
    ) -> String {
        let key = (c.name.clone(), form.to_string());
        if let Some(name) = self.initializers.get(&key) {
            return name.clone();
        }
        // A Const produces no ONNX node, so its TensorFlow name is free for its first form.
        let name = if self.const_named.insert(c.name.clone()) {
            c.name.clone()
        } else {
            self.fresh(&format!("{}/{form}", c.name))
        };
        self.graph.initializer.push(make(&name));
        self.initializers.insert(key, name.clone());
        name
    }

    fn unary(&mut self, op: &str, x: &Dynamic, out: &str) -> Result<Value, ConvertError> {
        self.emit(out, op, vec![x.name.clone()], out, vec![]);
        Ok(Value::Dyn(Dynamic {
            name: out.to_string(),
            shape: x.shape.clone(),
            layout: x.layout,
        }))
    }

    fn binary(
        &mut self,
        node: &NodeDef,
        op: &str,
        a: &Value,
        b: &Value,
    ) -> Result<Value, ConvertError> {
        let (da, db) = match (a, b) {
            (Value::Const(_), Value::Const(_)) => {
                return Err(invalid(node, "both operands are constants (not folded)"))
            }
            (Value::Dyn(x), Value::Const(_)) => (Some(x), None),
            (Value::Const(_), Value::Dyn(y)) => (None, Some(y)),
            (Value::Dyn(x), Value::Dyn(y)) => (Some(x), Some(y)),
        };
        let shapes: Vec<Vec<Option<i64>>> = [a, b]
            .iter()
            .map(|v| match v {
                Value::Dyn(d) => d.shape.clone(),
                Value::Const(c) => c.dims.iter().map(|&d| Some(d)).collect(),
            })
            .collect();
        let out_shape = broadcast(node, &shapes[0], &shapes[1])?;
        // Stay NCHW when an operand already is and the result is an image; otherwise TF order.
        let nchw = out_shape.len() == 4
            && [da, db]
                .iter()
                .flatten()
                .any(|d| d.layout == Layout::Nchw && d.shape.len() == 4);
        let layout = if nchw { Layout::Nchw } else { Layout::Tf };
        let mut names = Vec::with_capacity(2);
        for v in [a, b] {
            names.push(match v {
                Value::Dyn(d) => {
                    if d.shape.len() == 4 {
                        self.in_layout(d, layout).name
                    } else if layout == Layout::Nchw && !d.shape.is_empty() {
                        // A lower-rank dynamic tensor broadcast against an NCHW image would
                        // need its own relayout; the FaceNet graph never does this.
                        return Err(invalid(
                            node,
                            "broadcasting a rank<4 tensor against an image is not supported",
                        ));
                    } else {
                        d.name.clone()
                    }
                }
                Value::Const(c) => self.broadcast_const(node, c, out_shape.len(), layout)?,
            });
        }
        self.emit(&node.name, op, names, &node.name, vec![]);
        Ok(Value::Dyn(Dynamic {
            name: node.name.clone(),
            shape: out_shape,
            layout,
        }))
    }

    /// A constant operand of an element-wise op, reshaped so that ONNX broadcasting lines it up
    /// with the other operand in `layout`.
    fn broadcast_const(
        &mut self,
        node: &NodeDef,
        c: &ConstTensor,
        out_rank: usize,
        layout: Layout,
    ) -> Result<String, ConvertError> {
        let values = match &c.data {
            ConstData::F32(v) => v,
            ConstData::I64(_) => {
                return Err(invalid(node, format!("constant {} is not float", c.name)))
            }
        };
        if values.len() == 1 {
            let v = values[0];
            return Ok(self.initializer(c, "scalar", |n| TensorProto::from_f32(n, vec![], &[v])));
        }
        if layout == Layout::Tf || out_rank != 4 {
            return Ok(
                self.initializer(c, "", |n| TensorProto::from_f32(n, c.dims.clone(), values))
            );
        }
        if c.dims.len() > 4 {
            return Err(invalid(node, format!("constant {} has rank > 4", c.name)));
        }
        let mut dims4 = vec![1i64; 4 - c.dims.len()];
        dims4.extend_from_slice(&c.dims);
        let data = transpose(values, &dims4, &TO_NCHW);
        let dims: Vec<i64> = TO_NCHW.iter().map(|&p| dims4[p]).collect();
        // Leading ones are dropped so a per-channel bias is the idiomatic [C,1,1].
        let first = dims.iter().position(|&d| d != 1).unwrap_or(dims.len());
        let dims = dims[first..].to_vec();
        Ok(self.initializer(c, "nchw", |n| TensorProto::from_f32(n, dims, &data)))
    }

    fn conv2d(&mut self, node: &NodeDef, x: &Value, w: &Value) -> Result<Value, ConvertError> {
        check_nhwc(node)?;
        let x = dynamic(node, x)?;
        let Value::Const(w) = w else {
            return Err(invalid(node, "the filter is not a constant"));
        };
        let (ConstData::F32(wv), [kh, kw, ci, co]) = (&w.data, w.dims.as_slice()) else {
            return Err(invalid(node, "the filter is not a float32 HWIO tensor"));
        };
        if x.shape.len() != 4 {
            return Err(invalid(node, "the input is not rank 4"));
        }
        if let Some(c) = x.shape[3] {
            if c != *ci {
                return Err(invalid(
                    node,
                    format!("input has {c} channels, filter expects {ci}"),
                ));
            }
        }
        let strides = spatial_list(node, "strides", 1)?;
        let dilations = spatial_list(node, "dilations", 1)?;
        let kernel = [*kh, *kw];
        let (co, kh, kw) = (*co, *kh, *kw);
        let x = self.in_layout(&x, Layout::Nchw);
        let (out_hw, pad_attrs) = self.spatial(node, &x, kernel, strides, dilations)?;
        let oihw = transpose(wv, &w.dims, &[3, 2, 0, 1]);
        let wname = self.initializer(w, "", |n| {
            TensorProto::from_f32(n, vec![co, *ci, kh, kw], &oihw)
        });
        let mut attrs = vec![
            AttributeProto::ints("kernel_shape", kernel.to_vec()),
            AttributeProto::ints("strides", strides.to_vec()),
            AttributeProto::ints("dilations", dilations.to_vec()),
        ];
        attrs.extend(pad_attrs);
        self.emit(
            &node.name,
            "Conv",
            vec![x.name.clone(), wname],
            &node.name,
            attrs,
        );
        Ok(Value::Dyn(Dynamic {
            name: node.name.clone(),
            shape: vec![x.shape[0], out_hw[0], out_hw[1], Some(co)],
            layout: Layout::Nchw,
        }))
    }

    /// Output size and ONNX padding attributes for a TF `padding` of SAME or VALID.
    /// TF's SAME puts the odd pixel of padding at the end, which is ONNX's SAME_UPPER; explicit
    /// pads are written when the input size is known, since not every runtime honours auto_pad.
    fn spatial(
        &mut self,
        node: &NodeDef,
        x: &Dynamic,
        kernel: [i64; 2],
        strides: [i64; 2],
        dilations: [i64; 2],
    ) -> Result<([Option<i64>; 2], Vec<AttributeProto>), ConvertError> {
        let padding = attr_string(node, "padding").unwrap_or_default();
        let mut out = [None, None];
        let mut begin = [0i64; 2];
        let mut end = [0i64; 2];
        let mut known = true;
        for i in 0..2 {
            let eff = (kernel[i] - 1) * dilations[i] + 1;
            let Some(size) = x.shape[1 + i] else {
                known = false;
                continue;
            };
            match padding.as_str() {
                "SAME" => {
                    let o = (size + strides[i] - 1) / strides[i];
                    let total = ((o - 1) * strides[i] + eff - size).max(0);
                    begin[i] = total / 2;
                    end[i] = total - total / 2;
                    out[i] = Some(o);
                }
                "VALID" => {
                    if size < eff {
                        return Err(invalid(
                            node,
                            format!("input size {size} is smaller than the window {eff}"),
                        ));
                    }
                    out[i] = Some((size - eff) / strides[i] + 1);
                }
                other => {
                    return Err(invalid(
                        node,
                        format!("padding {other:?} is not supported (SAME or VALID)"),
                    ))
                }
            }
        }
        let attrs = if !known && padding == "SAME" {
            vec![AttributeProto::string("auto_pad", "SAME_UPPER")]
        } else {
            vec![AttributeProto::ints(
                "pads",
                vec![begin[0], begin[1], end[0], end[1]],
            )]
        };
        Ok((out, attrs))
    }

    fn pool(&mut self, node: &NodeDef, x: &Value) -> Result<Value, ConvertError> {
        check_nhwc(node)?;
        let x = dynamic(node, x)?;
        if x.shape.len() != 4 {
            return Err(invalid(node, "the input is not rank 4"));
        }
        let kernel = spatial_list(node, "ksize", 0)?;
        let strides = spatial_list(node, "strides", 0)?;
        let x = self.in_layout(&x, Layout::Nchw);
        let (out_hw, pad_attrs) = self.spatial(node, &x, kernel, strides, [1, 1])?;
        let mut attrs = vec![
            AttributeProto::ints("kernel_shape", kernel.to_vec()),
            AttributeProto::ints("strides", strides.to_vec()),
        ];
        attrs.extend(pad_attrs);
        let op = if node.op == "MaxPool" {
            "MaxPool"
        } else {
            // TF averages over the valid pixels only, never counting padding.
            attrs.push(AttributeProto::int("count_include_pad", 0));
            "AveragePool"
        };
        self.emit(&node.name, op, vec![x.name.clone()], &node.name, attrs);
        Ok(Value::Dyn(Dynamic {
            name: node.name.clone(),
            shape: vec![x.shape[0], out_hw[0], out_hw[1], x.shape[3]],
            layout: Layout::Nchw,
        }))
    }

    fn concat(&mut self, node: &NodeDef, inputs: &[Value]) -> Result<Value, ConvertError> {
        let Some((axis_v, parts)) = inputs.split_last() else {
            return Err(invalid(node, "no inputs"));
        };
        let axis = scalar_int(node, axis_v)?;
        let dyns: Vec<&Dynamic> = parts
            .iter()
            .map(|v| match v {
                Value::Dyn(d) => Ok(d),
                Value::Const(_) => Err(invalid(node, "constant concat operands are not supported")),
            })
            .collect::<Result<_, _>>()?;
        let Some(first) = dyns.first() else {
            return Err(invalid(node, "nothing to concatenate"));
        };
        let rank = first.shape.len();
        let axis = norm_axis(node, axis, rank)?;
        let mut shape = first.shape.clone();
        shape[axis] = Some(0);
        for d in &dyns {
            if d.shape.len() != rank {
                return Err(invalid(node, "operands differ in rank"));
            }
            shape[axis] = match (shape[axis], d.shape[axis]) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
        }
        let layout = if rank == 4 && dyns.iter().any(|d| d.layout == Layout::Nchw) {
            Layout::Nchw
        } else {
            Layout::Tf
        };
        let names: Vec<String> = dyns
            .iter()
            .map(|d| self.in_layout(d, layout).name)
            .collect();
        let onnx_axis = physical_axis(axis, rank, layout);
        self.emit(
            &node.name,
            "Concat",
            names,
            &node.name,
            vec![AttributeProto::int("axis", onnx_axis as i64)],
        );
        Ok(Value::Dyn(Dynamic {
            name: node.name.clone(),
            shape,
            layout,
        }))
    }

    fn matmul(&mut self, node: &NodeDef, a: &Value, b: &Value) -> Result<Value, ConvertError> {
        let mut names = Vec::new();
        let mut shapes = Vec::new();
        for (v, attr) in [(a, "transpose_a"), (b, "transpose_b")] {
            let t = attr_bool(node, attr).unwrap_or(false);
            match v {
                Value::Dyn(d) => {
                    if d.shape.len() != 2 {
                        return Err(invalid(node, "MatMul operands must be rank 2"));
                    }
                    let mut shape = d.shape.clone();
                    let mut name = d.name.clone();
                    if t {
                        name = self.fresh(&format!("{}/{attr}", node.name));
                        self.emit(
                            &name,
                            "Transpose",
                            vec![d.name.clone()],
                            &name,
                            vec![AttributeProto::ints("perm", vec![1, 0])],
                        );
                        shape.swap(0, 1);
                    }
                    names.push(name);
                    shapes.push(shape);
                }
                Value::Const(c) => {
                    let (ConstData::F32(vals), [r, k]) = (&c.data, c.dims.as_slice()) else {
                        return Err(invalid(node, "constant operand is not a float matrix"));
                    };
                    let (r, k) = (*r, *k);
                    let name = if t {
                        let data = transpose(vals, &c.dims, &[1, 0]);
                        shapes.push(vec![Some(k), Some(r)]);
                        self.initializer(c, "transposed", |n| {
                            TensorProto::from_f32(n, vec![k, r], &data)
                        })
                    } else {
                        shapes.push(vec![Some(r), Some(k)]);
                        self.initializer(c, "", |n| TensorProto::from_f32(n, vec![r, k], vals))
                    };
                    names.push(name);
                }
            }
        }
        if let (Some(ka), Some(kb)) = (shapes[0][1], shapes[1][0]) {
            if ka != kb {
                return Err(invalid(node, format!("inner sizes differ: {ka} vs {kb}")));
            }
        }
        self.emit(&node.name, "MatMul", names, &node.name, vec![]);
        Ok(Value::Dyn(Dynamic {
            name: node.name.clone(),
            shape: vec![shapes[0][0], shapes[1][1]],
            layout: Layout::Tf,
        }))
    }

    fn batch_norm(&mut self, node: &NodeDef, inputs: &[Value]) -> Result<Value, ConvertError> {
        check_nhwc(node)?;
        // TF's default for is_training is true, which would normalise with batch statistics.
        if attr_bool(node, "is_training").unwrap_or(true) {
            return Err(invalid(
                node,
                "is_training is true; only inference batch norm can be converted",
            ));
        }
        if inputs.len() != 5 {
            return Err(invalid(node, "expected 5 inputs"));
        }
        let x = dynamic(node, &inputs[0])?;
        if x.shape.len() != 4 {
            return Err(invalid(node, "the input is not rank 4"));
        }
        let eps = match node.attr.get("epsilon").and_then(|a| a.value.as_ref()) {
            Some(Attr::F(e)) => *e,
            _ => 1e-4,
        };
        let x = self.in_layout(&x, Layout::Nchw);
        let mut names = vec![x.name.clone()];
        for v in &inputs[1..] {
            let Value::Const(c) = v else {
                return Err(invalid(
                    node,
                    "scale, offset, mean and variance must be constants",
                ));
            };
            let ConstData::F32(vals) = &c.data else {
                return Err(invalid(node, format!("constant {} is not float", c.name)));
            };
            if c.dims.len() != 1 {
                return Err(invalid(
                    node,
                    format!("constant {} is not a vector", c.name),
                ));
            }
            names.push(self.initializer(c, "", |n| TensorProto::from_f32(n, c.dims.clone(), vals)));
        }
        self.emit(
            &node.name,
            "BatchNormalization",
            names,
            &node.name,
            vec![AttributeProto::float("epsilon", eps)],
        );
        Ok(Value::Dyn(Dynamic {
            name: node.name.clone(),
            shape: x.shape.clone(),
            layout: Layout::Nchw,
        }))
    }

    fn reshape(&mut self, node: &NodeDef, x: &Value, shape: &Value) -> Result<Value, ConvertError> {
        let x = dynamic(node, x)?;
        let Value::Const(sc) = shape else {
            return Err(invalid(
                node,
                "the target shape is computed at run time; only constant shapes are supported",
            ));
        };
        let ConstData::I64(target) = &sc.data else {
            return Err(invalid(node, "the target shape is not an integer tensor"));
        };
        // NCHW and NHWC flatten identically when either space or channels is a single element.
        let same_order = x.shape.len() == 4
            && (x.shape[3] == Some(1) || (x.shape[1] == Some(1) && x.shape[2] == Some(1)));
        let src = if x.layout == Layout::Nchw && !same_order {
            self.in_layout(&x, Layout::Tf)
        } else {
            x.clone()
        };
        let batch_dynamic = x.shape.first().is_some_and(|d| d.is_none());
        let mut onnx_target = target.clone();
        let mut out: Vec<Option<i64>> = Vec::with_capacity(target.len());
        for (i, &t) in target.iter().enumerate() {
            if t == 0 {
                return Err(invalid(
                    node,
                    "a zero-sized target dimension is not supported",
                ));
            }
            if i == 0 && batch_dynamic && Some(t) == self.baked_batch {
                onnx_target[0] = 0;
                out.push(None);
            } else if t < 0 {
                out.push(None);
            } else {
                out.push(Some(t));
            }
        }
        if target.iter().filter(|&&t| t < 0).count() > 1 {
            return Err(invalid(node, "more than one -1 in the target shape"));
        }
        // Resolve the -1 when every other size is known, so later ops see static shapes.
        if let Some(pos) = target.iter().position(|&t| t < 0) {
            let from = usize::from(onnx_target[0] == 0);
            if pos >= from {
                let total: Option<i64> = x.shape[from..].iter().copied().product();
                let rest: Option<i64> = (from..out.len())
                    .filter(|&i| i != pos)
                    .map(|i| out[i])
                    .product();
                if let (Some(t), Some(r)) = (total, rest) {
                    if r > 0 && t % r == 0 {
                        out[pos] = Some(t / r);
                    }
                }
            }
        }
        let form = if onnx_target == *target {
            ""
        } else {
            "dynamic_batch"
        };
        let shape_name = self.initializer(sc, form, |n| {
            TensorProto::from_i64(n, vec![onnx_target.len() as i64], &onnx_target)
        });
        self.emit(
            &node.name,
            "Reshape",
            vec![src.name.clone(), shape_name],
            &node.name,
            vec![],
        );
        Ok(Value::Dyn(Dynamic {
            name: node.name.clone(),
            shape: out,
            layout: Layout::Tf,
        }))
    }

    fn reduce(&mut self, node: &NodeDef, x: &Value, axes: &Value) -> Result<Value, ConvertError> {
        let x = dynamic(node, x)?;
        let Value::Const(ac) = axes else {
            return Err(invalid(node, "the reduction axes are not constant"));
        };
        let ConstData::I64(axes) = &ac.data else {
            return Err(invalid(node, "the reduction axes are not integers"));
        };
        let keep = attr_bool(node, "keep_dims").unwrap_or(false);
        let rank = x.shape.len();
        let axes: Vec<usize> = axes
            .iter()
            .map(|&a| norm_axis(node, a, rank))
            .collect::<Result<_, _>>()?;
        // Dropping dimensions from an NCHW tensor would leave a layout with no name.
        let x = if keep {
            x
        } else {
            self.in_layout(&x, Layout::Tf)
        };
        let onnx_axes: Vec<i64> = axes
            .iter()
            .map(|&a| physical_axis(a, rank, x.layout) as i64)
            .collect();
        let form = match x.layout {
            Layout::Nchw => "nchw",
            Layout::Tf => "",
        };
        let axes_name = self.initializer(ac, form, |n| {
            TensorProto::from_i64(n, vec![onnx_axes.len() as i64], &onnx_axes)
        });
        let op = if node.op == "Sum" {
            "ReduceSum"
        } else {
            "ReduceMean"
        };
        self.emit(
            &node.name,
            op,
            vec![x.name.clone(), axes_name],
            &node.name,
            vec![AttributeProto::int("keepdims", i64::from(keep))],
        );
        let shape = x
            .shape
            .iter()
            .enumerate()
            .filter_map(|(i, d)| match (axes.contains(&i), keep) {
                (false, _) => Some(*d),
                (true, true) => Some(Some(1)),
                (true, false) => None,
            })
            .collect();
        Ok(Value::Dyn(Dynamic {
            name: node.name.clone(),
            shape,
            layout: x.layout,
        }))
    }

    fn finish(mut self, output: &str) -> Result<onnx::ModelProto, ConvertError> {
        let value = self
            .values
            .get(output)
            .cloned()
            .ok_or_else(|| ConvertError::MissingNode(output.to_string()))?;
        let Value::Dyn(out) = value else {
            return Err(ConvertError::Invalid {
                node: output.to_string(),
                op: "output".into(),
                reason: "the output is a constant".into(),
            });
        };
        if out.layout == Layout::Nchw && out.shape.len() == 4 {
            // The graph output keeps its TensorFlow name and NHWC order, so the NCHW tensor
            // that held the name is renamed and transposed into it.
            let inner = self.fresh(&format!("{output}/nchw"));
            for n in &mut self.graph.node {
                for t in n.input.iter_mut().chain(n.output.iter_mut()) {
                    if t == &out.name {
                        *t = inner.clone();
                    }
                }
            }
            let perm = TO_NHWC.iter().map(|&p| p as i64).collect();
            let name = self.fresh(&format!("{output}/to_nhwc"));
            self.emit(
                &name,
                "Transpose",
                vec![inner],
                output,
                vec![AttributeProto::ints("perm", perm)],
            );
        } else if out.name != output {
            // An Identity chain aliases another tensor; the graph output still needs its name.
            self.emit(output, "Identity", vec![out.name.clone()], output, vec![]);
        }
        let dims: Vec<Dim> = out
            .shape
            .iter()
            .enumerate()
            .map(|(i, d)| match d {
                Some(v) => Dim::Fixed(*v),
                None if i == 0 => Dim::Param(BATCH_DIM.into()),
                None => Dim::Param(format!("{output}_{i}")),
            })
            .collect();
        self.graph.output.push(ValueInfoProto::tensor(
            output,
            onnx::data_type::FLOAT,
            &dims,
        ));
        Ok(onnx::ModelProto {
            ir_version: IR_VERSION,
            producer_name: "facenet-models".into(),
            producer_version: CONVERTER_VERSION.into(),
            graph: Some(self.graph),
            opset_import: vec![onnx::OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            ..Default::default()
        })
    }
}

fn dynamic(node: &NodeDef, v: &Value) -> Result<Dynamic, ConvertError> {
    match v {
        Value::Dyn(d) => Ok(d.clone()),
        Value::Const(c) => Err(invalid(
            node,
            format!(
                "operand {} is a constant where a computed tensor is expected",
                c.name
            ),
        )),
    }
}

fn check_nhwc(node: &NodeDef) -> Result<(), ConvertError> {
    match attr_string(node, "data_format").as_deref() {
        None | Some("NHWC") => Ok(()),
        Some(f) => Err(invalid(
            node,
            format!("data_format {f} is not supported (NHWC only)"),
        )),
    }
}

fn attr_string(node: &NodeDef, name: &str) -> Option<String> {
    match node.attr.get(name)?.value.as_ref()? {
        Attr::S(s) => Some(String::from_utf8_lossy(s).into_owned()),
        _ => None,
    }
}

fn attr_bool(node: &NodeDef, name: &str) -> Option<bool> {
    match node.attr.get(name)?.value.as_ref()? {
        Attr::B(b) => Some(*b),
        _ => None,
    }
}

fn attr_type(node: &NodeDef, name: &str) -> Option<i32> {
    match node.attr.get(name)?.value.as_ref()? {
        Attr::Type(t) => Some(*t),
        _ => None,
    }
}

/// The H and W entries of an NHWC `[1, h, w, 1]` list attribute; `default` when absent
/// (0 = required).
fn spatial_list(node: &NodeDef, name: &str, default: i64) -> Result<[i64; 2], ConvertError> {
    let list = match node.attr.get(name).and_then(|a| a.value.as_ref()) {
        Some(Attr::List(l)) => l.i.clone(),
        _ if default > 0 => return Ok([default, default]),
        _ => return Err(invalid(node, format!("attribute {name} is missing"))),
    };
    match list.as_slice() {
        [1, h, w, 1] if *h > 0 && *w > 0 => Ok([*h, *w]),
        _ => Err(invalid(
            node,
            format!("attribute {name} = {list:?} is not [1, h, w, 1] with positive h, w"),
        )),
    }
}

fn scalar_int(node: &NodeDef, v: &Value) -> Result<i64, ConvertError> {
    match v {
        Value::Const(c) => match &c.data {
            ConstData::I64(x) if x.len() == 1 => Ok(x[0]),
            _ => Err(invalid(
                node,
                format!("{} is not an integer scalar", c.name),
            )),
        },
        Value::Dyn(_) => Err(invalid(node, "the axis is computed at run time")),
    }
}

fn norm_axis(node: &NodeDef, axis: i64, rank: usize) -> Result<usize, ConvertError> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        Err(invalid(
            node,
            format!("axis {axis} is out of range for rank {rank}"),
        ))
    }
}

/// Where a TF-order axis lives in the tensor's memory order.
fn physical_axis(axis: usize, rank: usize, layout: Layout) -> usize {
    if layout == Layout::Nchw && rank == 4 {
        TO_NCHW.iter().position(|&p| p == axis).unwrap_or(axis)
    } else {
        axis
    }
}

fn broadcast(
    node: &NodeDef,
    a: &[Option<i64>],
    b: &[Option<i64>],
) -> Result<Vec<Option<i64>>, ConvertError> {
    let rank = a.len().max(b.len());
    let pad = |s: &[Option<i64>]| {
        let mut v = vec![Some(1); rank - s.len()];
        v.extend_from_slice(s);
        v
    };
    let (a, b) = (pad(a), pad(b));
    a.iter()
        .zip(&b)
        .map(|(x, y)| match (x, y) {
            (Some(1), d) | (d, Some(1)) => Ok(*d),
            (Some(x), Some(y)) if x == y => Ok(Some(*x)),
            (Some(x), Some(y)) => Err(invalid(node, format!("cannot broadcast {x} with {y}"))),
            (Some(x), None) | (None, Some(x)) => Ok(Some(*x)),
            (None, None) => Ok(None),
        })
        .collect()
}

/// Row-major transpose: output axis `i` is input axis `perm[i]`.
fn transpose<T: Copy + Default>(data: &[T], dims: &[i64], perm: &[usize]) -> Vec<T> {
    let rank = dims.len();
    let dims: Vec<usize> = dims.iter().map(|&d| d.max(0) as usize).collect();
    let mut in_strides = vec![1usize; rank];
    for i in (0..rank.saturating_sub(1)).rev() {
        in_strides[i] = in_strides[i + 1] * dims[i + 1];
    }
    let out_dims: Vec<usize> = perm.iter().map(|&p| dims[p]).collect();
    let total: usize = dims.iter().product();
    let mut out = vec![T::default(); total];
    let mut idx = vec![0usize; rank];
    for slot in out.iter_mut() {
        let src: usize = (0..rank).map(|i| idx[i] * in_strides[perm[i]]).sum();
        *slot = data[src];
        for i in (0..rank).rev() {
            idx[i] += 1;
            if idx[i] < out_dims[i] {
                break;
            }
            idx[i] = 0;
        }
    }
    out
}

fn read_const(node: &NodeDef) -> Result<ConstTensor, ConvertError> {
    let t = match node.attr.get("value").and_then(|a| a.value.as_ref()) {
        Some(Attr::Tensor(t)) => t,
        _ => return Err(invalid(node, "no tensor value")),
    };
    let dims: Vec<i64> = t
        .tensor_shape
        .as_ref()
        .map(|s| s.dim.iter().map(|d| d.size).collect())
        .unwrap_or_default();
    if dims.iter().any(|&d| d < 0) {
        return Err(invalid(
            node,
            format!("constant has unknown dimensions {dims:?}"),
        ));
    }
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize))
        .filter(|&n| n <= MAX_CONST_ELEMENTS)
        .ok_or_else(|| invalid(node, format!("constant shape {dims:?} is too large")))?;
    let data = match t.dtype {
        tf::dtype::FLOAT => ConstData::F32(unpack(
            node,
            &t.tensor_content,
            &t.float_val,
            count,
            |b: &[u8; 4]| f32::from_le_bytes(*b),
        )?),
        tf::dtype::INT32 => {
            let v = unpack(node, &t.tensor_content, &t.int_val, count, |b: &[u8; 4]| {
                i32::from_le_bytes(*b)
            })?;
            ConstData::I64(v.into_iter().map(i64::from).collect())
        }
        tf::dtype::INT64 => ConstData::I64(unpack(
            node,
            &t.tensor_content,
            &t.int64_val,
            count,
            |b: &[u8; 8]| i64::from_le_bytes(*b),
        )?),
        other => {
            return Err(invalid(
                node,
                format!("constant dtype {other} is not supported (float32, int32, int64)"),
            ))
        }
    };
    Ok(ConstTensor {
        name: node.name.clone(),
        dims,
        data,
    })
}

/// TF stores a constant either packed in `tensor_content` or in a typed list, where a short list
/// repeats its last value to fill the shape.
fn unpack<T: Copy + Default, const N: usize>(
    node: &NodeDef,
    content: &[u8],
    list: &[T],
    count: usize,
    from_le: impl Fn(&[u8; N]) -> T,
) -> Result<Vec<T>, ConvertError> {
    if !content.is_empty() {
        if content.len() != count * N {
            return Err(invalid(
                node,
                format!(
                    "tensor_content has {} bytes for {count} values",
                    content.len()
                ),
            ));
        }
        return Ok(content
            .chunks_exact(N)
            .map(|c| {
                let mut b = [0u8; N];
                b.copy_from_slice(c);
                from_le(&b)
            })
            .collect());
    }
    if list.len() > count {
        return Err(invalid(
            node,
            format!("{} values for {count} elements", list.len()),
        ));
    }
    let fill = list.last().copied().unwrap_or_default();
    let mut v = list.to_vec();
    v.resize(count, fill);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tf::{tensor_shape_proto, AttrValue, ListValue, TensorShapeProto};

    fn shape(dims: &[i64]) -> TensorShapeProto {
        TensorShapeProto {
            dim: dims
                .iter()
                .map(|&size| tensor_shape_proto::Dim {
                    size,
                    name: String::new(),
                })
                .collect(),
            unknown_rank: false,
        }
    }

    fn attr(v: Attr) -> AttrValue {
        AttrValue { value: Some(v) }
    }

    fn ints(v: &[i64]) -> AttrValue {
        attr(Attr::List(ListValue {
            i: v.to_vec(),
            ..Default::default()
        }))
    }

    fn node(name: &str, op: &str, inputs: &[&str], attrs: Vec<(&str, AttrValue)>) -> NodeDef {
        NodeDef {
            name: name.into(),
            op: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            device: String::new(),
            attr: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        }
    }

    fn const_f32(name: &str, dims: &[i64], vals: &[f32]) -> NodeDef {
        let t = tf::TensorProto {
            dtype: tf::dtype::FLOAT,
            tensor_shape: Some(shape(dims)),
            tensor_content: vals.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        };
        node(name, "Const", &[], vec![("value", attr(Attr::Tensor(t)))])
    }

    fn const_i32(name: &str, dims: &[i64], vals: &[i32]) -> NodeDef {
        let t = tf::TensorProto {
            dtype: tf::dtype::INT32,
            tensor_shape: Some(shape(dims)),
            int_val: vals.to_vec(),
            ..Default::default()
        };
        node(name, "Const", &[], vec![("value", attr(Attr::Tensor(t)))])
    }

    /// input [1,4,4,2] → Conv2D 3x3 SAME (2→3) → BiasAdd → Relu → Reshape [1,-1] → Identity.
    fn tiny_graph() -> GraphDef {
        let w: Vec<f32> = (0..3 * 3 * 2 * 3).map(|i| i as f32).collect();
        let conv_attrs = || {
            vec![
                ("strides", ints(&[1, 1, 1, 1])),
                ("padding", attr(Attr::S(b"SAME".to_vec()))),
                ("data_format", attr(Attr::S(b"NHWC".to_vec()))),
                ("T", attr(Attr::Type(tf::dtype::FLOAT))),
            ]
        };
        GraphDef {
            node: vec![
                // Deliberately out of order: the converter must sort.
                node("out", "Identity", &["flat"], vec![]),
                node("flat", "Reshape", &["relu", "flat/shape"], vec![]),
                const_i32("flat/shape", &[2], &[1, -1]),
                node(
                    "input",
                    "Placeholder",
                    &[],
                    vec![
                        ("dtype", attr(Attr::Type(tf::dtype::FLOAT))),
                        ("shape", attr(Attr::Shape(shape(&[1, 4, 4, 2])))),
                    ],
                ),
                const_f32("conv/w", &[3, 3, 2, 3], &w),
                node("conv", "Conv2D", &["input:0", "conv/w"], conv_attrs()),
                const_f32("conv/b", &[3], &[0.5, -0.5, 1.0]),
                node("bias", "BiasAdd", &["conv", "conv/b", "^input"], vec![]),
                node("relu", "Relu", &["bias"], vec![]),
                // Not on the path to the output, so its unsupported op must not matter.
                node("unused", "Conv3D", &["relu"], vec![]),
            ],
            versions: None,
        }
    }

    fn dims_of(v: &ValueInfoProto) -> Vec<Dim> {
        use onnx::tensor_shape_proto::dimension::Value as D;
        let Some(onnx::type_proto::Value::TensorType(t)) =
            v.r#type.as_ref().and_then(|t| t.value.as_ref())
        else {
            panic!("not a tensor type");
        };
        t.shape
            .as_ref()
            .unwrap()
            .dim
            .iter()
            .map(|d| match d.value.as_ref().unwrap() {
                D::DimValue(v) => Dim::Fixed(*v),
                D::DimParam(p) => Dim::Param(p.clone()),
            })
            .collect()
    }

    fn raw_f32(t: &TensorProto) -> Vec<f32> {
        t.raw_data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    fn raw_i64(t: &TensorProto) -> Vec<i64> {
        t.raw_data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn tiny_conv_graph_round_trips() {
        let pb = tiny_graph().encode_to_vec();
        let graph = GraphDef::decode(pb.as_slice()).unwrap();
        let model = convert_graph(&graph, "input", "out").unwrap();
        let bytes = model.encode_to_vec();
        let model = onnx::ModelProto::decode(bytes.as_slice()).unwrap();
        assert_eq!(model.ir_version, 8);
        assert_eq!(model.opset_import[0].version, 17);
        let g = model.graph.unwrap();

        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(
            ops,
            [
                "Transpose",
                "Conv",
                "Add",
                "Relu",
                "Transpose",
                "Reshape",
                "Identity"
            ]
        );
        let names: Vec<&str> = g.node.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names[1..4], ["conv", "bias", "relu"]);
        assert_eq!(names[5..], ["flat", "out"]);

        assert_eq!(g.input.len(), 1);
        assert_eq!(g.input[0].name, "input");
        assert_eq!(
            dims_of(&g.input[0]),
            [
                Dim::Param("batch".into()),
                Dim::Fixed(4),
                Dim::Fixed(4),
                Dim::Fixed(2)
            ]
        );
        assert_eq!(g.output[0].name, "out");
        assert_eq!(
            dims_of(&g.output[0]),
            [Dim::Param("batch".into()), Dim::Fixed(48)]
        );

        let init = |name: &str| g.initializer.iter().find(|t| t.name == name).unwrap();
        // HWIO [3,3,2,3] → OIHW [3,2,3,3]; element (o=2, i=1, h=0, w=1) was at HWIO (0,1,1,2).
        let w = init("conv/w");
        assert_eq!(w.dims, [3, 2, 3, 3]);
        let wv = raw_f32(w);
        let hwio = |h: usize, w: usize, i: usize, o: usize| (((h * 3 + w) * 2 + i) * 3 + o) as f32;
        assert_eq!(wv[((2 * 2 + 1) * 3) * 3 + 1], hwio(0, 1, 1, 2));
        let b = init("conv/b");
        assert_eq!(b.dims, [3, 1, 1]);
        assert_eq!(raw_f32(b), [0.5, -0.5, 1.0]);
        // The baked batch of 1 becomes "copy the batch".
        assert_eq!(raw_i64(init("flat/shape")), [0, -1]);

        let conv = &g.node[1];
        let pads = conv.attribute.iter().find(|a| a.name == "pads").unwrap();
        assert_eq!(pads.ints, [1, 1, 1, 1]);
        assert_eq!(conv.input[0], "input/to_nchw");
        let perm = &g.node[0].attribute[0];
        assert_eq!(perm.ints, [0, 3, 1, 2]);
        // The flatten must see NHWC order, as TensorFlow flattens it.
        assert_eq!(g.node[4].attribute[0].ints, [0, 2, 3, 1]);
    }

    #[test]
    fn unknown_op_is_named() {
        let mut g = tiny_graph();
        g.node.push(node("odd", "Conv3D", &["relu"], vec![]));
        g.node.push(node("out2", "Identity", &["odd"], vec![]));
        let err = convert_graph(&g, "input", "out2").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("\"odd\"") && msg.contains("Conv3D"), "{msg}");
    }

    #[test]
    fn same_padding_puts_the_extra_pixel_at_the_end() {
        let w = vec![0.0f32; 3 * 3];
        let g = GraphDef {
            node: vec![
                node(
                    "input",
                    "Placeholder",
                    &[],
                    vec![("shape", attr(Attr::Shape(shape(&[1, 6, 5, 1]))))],
                ),
                const_f32("w", &[3, 3, 1, 1], &w),
                node(
                    "c",
                    "Conv2D",
                    &["input", "w"],
                    vec![
                        ("strides", ints(&[1, 2, 2, 1])),
                        ("padding", attr(Attr::S(b"SAME".to_vec()))),
                    ],
                ),
                node(
                    "p",
                    "AvgPool",
                    &["c"],
                    vec![
                        ("ksize", ints(&[1, 2, 2, 1])),
                        ("strides", ints(&[1, 1, 1, 1])),
                        ("padding", attr(Attr::S(b"SAME".to_vec()))),
                    ],
                ),
            ],
            versions: None,
        };
        let model = convert_graph(&g, "input", "p").unwrap();
        let gr = model.graph.unwrap();
        let attr_ints = |n: &NodeProto, name: &str| {
            n.attribute
                .iter()
                .find(|a| a.name == name)
                .unwrap()
                .ints
                .clone()
        };
        // H=6, s=2: out 3, total pad 1 → [0 before, 1 after]; W=5: out 3, total 2 → [1, 1].
        let conv = gr.node.iter().find(|n| n.name == "c").unwrap();
        assert_eq!(attr_ints(conv, "pads"), [0, 1, 1, 1]);
        let pool = gr.node.iter().find(|n| n.name == "p").unwrap();
        assert_eq!(pool.op_type, "AveragePool");
        assert_eq!(attr_ints(pool, "pads"), [0, 0, 1, 1]);
        let cip = pool
            .attribute
            .iter()
            .find(|a| a.name == "count_include_pad")
            .unwrap();
        assert_eq!(cip.i, 0);
        // The rank-4 output goes back to NHWC under its TensorFlow name.
        assert_eq!(gr.node.last().unwrap().output[0], "p");
        assert_eq!(
            dims_of(&gr.output[0]),
            [
                Dim::Param("batch".into()),
                Dim::Fixed(3),
                Dim::Fixed(3),
                Dim::Fixed(1)
            ]
        );
    }

    #[test]
    fn transpose_matches_index_arithmetic() {
        let data: Vec<i32> = (0..24).collect();
        let t = transpose(&data, &[2, 3, 4], &[2, 0, 1]);
        // out[k][i][j] = in[i][j][k]
        assert_eq!(t[(3 * 2 + 1) * 3 + 2], data[(4 * 3) + 4 * 2 + 3]);
    }

    #[test]
    fn short_value_lists_fill_the_shape() {
        let t = tf::TensorProto {
            dtype: tf::dtype::FLOAT,
            tensor_shape: Some(shape(&[3])),
            float_val: vec![0.25],
            ..Default::default()
        };
        let n = node("c", "Const", &[], vec![("value", attr(Attr::Tensor(t)))]);
        let c = read_const(&n).unwrap();
        assert_eq!(c.data, ConstData::F32(vec![0.25; 3]));
    }
}
