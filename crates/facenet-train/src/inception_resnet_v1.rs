//! Inception-ResNet-v1 (Szegedy et al. 2016) as a burn module, laid out like David Sandberg's
//! `models/inception_resnet_v1.py` so the two can be read side by side.
//!
//! Every convolution keeps its TensorFlow scope (`InceptionResnetV1/Repeat/block35_1/Branch_1/
//! Conv2d_0b_3x3`), which is also the name of its `Conv` node in the converted ONNX graph: that is
//! how pretrained weights are found and how trained ones are written back.
//!
//! Two flavours, as [`Config::batch_norm`] says:
//! - without batch norm: the layout of the frozen, pretrained graph, where every batch norm is
//!   already folded into its convolution's bias (what fine-tuning starts from);
//! - with batch norm: the training graph of the original (`slim.batch_norm`, decay 0.995,
//!   epsilon 1e-3, no scale), for training from scratch. Export folds it away again.
//!
//! Input is NCHW, `(x - 127.5) / 128`; the output is the 512-d prelogits and their L2-normalised
//! embedding.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::weights::{ConvWeights, PretrainedWeights};

/// Residual scales of the original's `slim.repeat(net, n, blockXX, scale=...)`.
pub const BLOCK35_SCALE: f32 = 0.17;
pub const BLOCK17_SCALE: f32 = 0.10;
pub const BLOCK8_SCALE: f32 = 0.20;
/// `slim.batch_norm` parameters of `inception_resnet_v1.inference`.
pub const BATCH_NORM_EPSILON: f64 = 1e-3;
pub const BATCH_NORM_DECAY: f64 = 0.995;
/// `tf.nn.l2_normalize(prelogits, 1, 1e-10)`.
pub const L2_EPSILON: f32 = 1e-10;

pub const SCOPE: &str = "InceptionResnetV1";
pub const INPUT_SIZE: usize = 160;
pub const PRELOGITS_CHANNELS: usize = 1792;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Config {
    /// Size of the bottleneck (`--embedding_size`); the pretrained model has 512.
    pub embedding_size: usize,
    /// `--keep_probability` of the dropout before the bottleneck.
    pub dropout_keep_prob: f64,
    /// Batch norm after every convolution (training from scratch) instead of folded biases.
    pub batch_norm: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            embedding_size: 512,
            dropout_keep_prob: 0.8,
            batch_norm: false,
        }
    }
}

/// Where the parameters come from.
pub enum Init<'a> {
    /// Random: Xavier-like convolutions as `slim.initializers.xavier_initializer_conv2d`.
    Scratch,
    /// The converted ONNX graph of the pretrained model (batch norm folded).
    Pretrained(&'a PretrainedWeights),
}

/// The network's output for one batch.
pub struct Output<B: Backend> {
    /// `[N, embedding_size]`, before normalisation (the original's `prelogits`).
    pub prelogits: Tensor<B, 2>,
    /// `[N, embedding_size]`, L2-normalised (the original's `embeddings`).
    pub embeddings: Tensor<B, 2>,
}

/// `slim.conv2d`: convolution, then batch norm (or the folded bias), then ReLU.
#[derive(Module, Debug)]
pub struct ConvUnit<B: Backend> {
    pub conv: Conv2d<B>,
    pub bn: Option<BatchNorm<B>>,
    pub relu: bool,
    /// The TensorFlow scope, e.g. `InceptionResnetV1/Conv2d_1a_3x3`.
    pub scope: String,
}

#[derive(Clone, Copy)]
enum Pad {
    Same,
    Valid,
}

/// What a [`ConvUnit`] is, in the arguments of `slim.conv2d`.
struct Spec<'s> {
    scope: &'s str,
    cin: usize,
    cout: usize,
    kernel: [usize; 2],
    stride: usize,
    pad: Pad,
    /// `normalizer_fn=None, activation_fn=None`: the residual `Conv2d_1x1` of each block.
    linear: bool,
}

impl<'s> Spec<'s> {
    fn new(scope: &'s str, cin: usize, cout: usize, kernel: [usize; 2]) -> Self {
        Spec {
            scope,
            cin,
            cout,
            kernel,
            stride: 1,
            pad: Pad::Same,
            linear: false,
        }
    }
    fn stride2_valid(mut self) -> Self {
        self.stride = 2;
        self.pad = Pad::Valid;
        self
    }
    fn valid(mut self) -> Self {
        self.pad = Pad::Valid;
        self
    }
    fn linear(mut self) -> Self {
        self.linear = true;
        self
    }
}

/// Builds layers under one scope, from scratch or from pretrained weights.
pub struct Builder<'a, B: Backend> {
    cfg: &'a Config,
    init: &'a Init<'a>,
    device: &'a B::Device,
}

impl<B: Backend> Builder<'_, B> {
    fn conv(&self, scope: &str, spec: Spec<'_>) -> Result<ConvUnit<B>> {
        let scope = format!("{scope}/{}", spec.scope);
        // Every stride-1 convolution of this network is SAME with an odd kernel, so TF's padding
        // is symmetric; the strided ones are all VALID.
        let padding = match spec.pad {
            Pad::Same => {
                let (h, w) = (spec.kernel[0] / 2, spec.kernel[1] / 2);
                PaddingConfig2d::Explicit(h, w, h, w)
            }
            Pad::Valid => PaddingConfig2d::Valid,
        };
        let with_bn = self.cfg.batch_norm && !spec.linear;
        let mut conv = Conv2dConfig::new([spec.cin, spec.cout], spec.kernel)
            .with_stride([spec.stride, spec.stride])
            .with_padding(padding)
            .with_bias(!with_bn)
            .with_initializer(Initializer::XavierUniform { gain: 1.0 })
            .init(self.device);
        if let Init::Pretrained(w) = self.init {
            let ConvWeights { weight, bias } = w.conv(
                &scope,
                [spec.cout, spec.cin, spec.kernel[0], spec.kernel[1]],
            )?;
            conv.weight = Param::from_tensor(tensor(weight, self.device));
            conv.bias = Some(Param::from_tensor(tensor(bias, self.device)));
        } else if let Some(b) = conv.bias.as_mut() {
            *b = Param::from_tensor(Tensor::zeros([spec.cout], self.device));
        }
        let bn = with_bn.then(|| batch_norm(spec.cout, self.device));
        Ok(ConvUnit {
            conv,
            bn,
            relu: !spec.linear,
            scope,
        })
    }
}

/// `slim.batch_norm` with `scale=False`: gamma stays 1.
fn batch_norm<B: Backend>(channels: usize, device: &B::Device) -> BatchNorm<B> {
    let mut bn = BatchNormConfig::new(channels)
        .with_epsilon(BATCH_NORM_EPSILON)
        .with_momentum(1.0 - BATCH_NORM_DECAY)
        .init(device);
    bn.gamma = bn.gamma.set_require_grad(false);
    bn
}

fn tensor<B: Backend, const D: usize>(
    t: crate::weights::HostTensor<D>,
    device: &B::Device,
) -> Tensor<B, D> {
    Tensor::from_data(burn::tensor::TensorData::new(t.data, t.shape), device)
}

impl<B: Backend> ConvUnit<B> {
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let padding = match self.conv.padding {
            PaddingConfig2d::Explicit(top, left, _, _) => [top, left],
            _ => [0, 0],
        };
        let mut x = crate::conv::conv2d(
            x,
            self.conv.weight.val(),
            self.conv.bias.as_ref().map(Param::val),
            self.conv.stride[0],
            padding,
        );
        if let Some(bn) = &self.bn {
            x = bn.forward(x);
        }
        if self.relu {
            relu(x)
        } else {
            x
        }
    }
}

/// 35×35 resnet block (17×17 at 160 px input).
#[derive(Module, Debug)]
pub struct Block35<B: Backend> {
    pub branch_0: ConvUnit<B>,
    pub branch_1: [ConvUnit<B>; 2],
    pub branch_2: [ConvUnit<B>; 3],
    pub up: ConvUnit<B>,
    pub scale: f32,
    pub activation: bool,
}

impl<B: Backend> Block35<B> {
    fn new(b: &Builder<'_, B>, scope: &str, scale: f32) -> Result<Self> {
        let c = 256;
        Ok(Block35 {
            branch_0: b.conv(scope, Spec::new("Branch_0/Conv2d_1x1", c, 32, [1, 1]))?,
            branch_1: [
                b.conv(scope, Spec::new("Branch_1/Conv2d_0a_1x1", c, 32, [1, 1]))?,
                b.conv(scope, Spec::new("Branch_1/Conv2d_0b_3x3", 32, 32, [3, 3]))?,
            ],
            branch_2: [
                b.conv(scope, Spec::new("Branch_2/Conv2d_0a_1x1", c, 32, [1, 1]))?,
                b.conv(scope, Spec::new("Branch_2/Conv2d_0b_3x3", 32, 32, [3, 3]))?,
                b.conv(scope, Spec::new("Branch_2/Conv2d_0c_3x3", 32, 32, [3, 3]))?,
            ],
            up: b.conv(scope, Spec::new("Conv2d_1x1", 96, c, [1, 1]).linear())?,
            scale,
            activation: true,
        })
    }

    pub fn forward(&self, net: Tensor<B, 4>) -> Tensor<B, 4> {
        let tower_conv = self.branch_0.forward(net.clone());
        let tower_conv1 = chain(&self.branch_1, net.clone());
        let tower_conv2 = chain(&self.branch_2, net.clone());
        let mixed = Tensor::cat(vec![tower_conv, tower_conv1, tower_conv2], 1);
        let up = self.up.forward(mixed);
        residual(net, up, self.scale, self.activation)
    }
}

/// 17×17 resnet block (8×8 at 160 px).
#[derive(Module, Debug)]
pub struct Block17<B: Backend> {
    pub branch_0: ConvUnit<B>,
    pub branch_1: [ConvUnit<B>; 3],
    pub up: ConvUnit<B>,
    pub scale: f32,
    pub activation: bool,
}

impl<B: Backend> Block17<B> {
    fn new(b: &Builder<'_, B>, scope: &str, scale: f32) -> Result<Self> {
        let c = 896;
        Ok(Block17 {
            branch_0: b.conv(scope, Spec::new("Branch_0/Conv2d_1x1", c, 128, [1, 1]))?,
            branch_1: [
                b.conv(scope, Spec::new("Branch_1/Conv2d_0a_1x1", c, 128, [1, 1]))?,
                b.conv(scope, Spec::new("Branch_1/Conv2d_0b_1x7", 128, 128, [1, 7]))?,
                b.conv(scope, Spec::new("Branch_1/Conv2d_0c_7x1", 128, 128, [7, 1]))?,
            ],
            up: b.conv(scope, Spec::new("Conv2d_1x1", 256, c, [1, 1]).linear())?,
            scale,
            activation: true,
        })
    }

    pub fn forward(&self, net: Tensor<B, 4>) -> Tensor<B, 4> {
        let tower_conv = self.branch_0.forward(net.clone());
        let tower_conv1 = chain(&self.branch_1, net.clone());
        let mixed = Tensor::cat(vec![tower_conv, tower_conv1], 1);
        let up = self.up.forward(mixed);
        residual(net, up, self.scale, self.activation)
    }
}

/// 8×8 resnet block (3×3 at 160 px).
#[derive(Module, Debug)]
pub struct Block8<B: Backend> {
    pub branch_0: ConvUnit<B>,
    pub branch_1: [ConvUnit<B>; 3],
    pub up: ConvUnit<B>,
    pub scale: f32,
    pub activation: bool,
}

impl<B: Backend> Block8<B> {
    fn new(b: &Builder<'_, B>, scope: &str, scale: f32, activation: bool) -> Result<Self> {
        let c = 1792;
        Ok(Block8 {
            branch_0: b.conv(scope, Spec::new("Branch_0/Conv2d_1x1", c, 192, [1, 1]))?,
            branch_1: [
                b.conv(scope, Spec::new("Branch_1/Conv2d_0a_1x1", c, 192, [1, 1]))?,
                b.conv(scope, Spec::new("Branch_1/Conv2d_0b_1x3", 192, 192, [1, 3]))?,
                b.conv(scope, Spec::new("Branch_1/Conv2d_0c_3x1", 192, 192, [3, 1]))?,
            ],
            up: b.conv(scope, Spec::new("Conv2d_1x1", 384, c, [1, 1]).linear())?,
            scale,
            activation,
        })
    }

    pub fn forward(&self, net: Tensor<B, 4>) -> Tensor<B, 4> {
        let tower_conv = self.branch_0.forward(net.clone());
        let tower_conv1 = chain(&self.branch_1, net.clone());
        let mixed = Tensor::cat(vec![tower_conv, tower_conv1], 1);
        let up = self.up.forward(mixed);
        residual(net, up, self.scale, self.activation)
    }
}

/// `reduction_a(net, 192, 192, 256, 384)` (scope `Mixed_6a`): 17×17×256 → 8×8×896.
#[derive(Module, Debug)]
pub struct ReductionA<B: Backend> {
    pub branch_0: ConvUnit<B>,
    pub branch_1: [ConvUnit<B>; 3],
    pub branch_2: MaxPool2d,
}

impl<B: Backend> ReductionA<B> {
    fn new(b: &Builder<'_, B>, scope: &str) -> Result<Self> {
        let (k, l, m, n) = (192, 192, 256, 384);
        let c = 256;
        Ok(ReductionA {
            branch_0: b.conv(
                scope,
                Spec::new("Branch_0/Conv2d_1a_3x3", c, n, [3, 3]).stride2_valid(),
            )?,
            branch_1: [
                b.conv(scope, Spec::new("Branch_1/Conv2d_0a_1x1", c, k, [1, 1]))?,
                b.conv(scope, Spec::new("Branch_1/Conv2d_0b_3x3", k, l, [3, 3]))?,
                b.conv(
                    scope,
                    Spec::new("Branch_1/Conv2d_1a_3x3", l, m, [3, 3]).stride2_valid(),
                )?,
            ],
            branch_2: max_pool_3x3_s2(),
        })
    }

    pub fn forward(&self, net: Tensor<B, 4>) -> Tensor<B, 4> {
        let tower_conv = self.branch_0.forward(net.clone());
        let tower_conv1 = chain(&self.branch_1, net.clone());
        let tower_pool = self.branch_2.forward(net);
        Tensor::cat(vec![tower_conv, tower_conv1, tower_pool], 1)
    }
}

/// `reduction_b` (scope `Mixed_7a`): 8×8×896 → 3×3×1792.
#[derive(Module, Debug)]
pub struct ReductionB<B: Backend> {
    pub branch_0: [ConvUnit<B>; 2],
    pub branch_1: [ConvUnit<B>; 2],
    pub branch_2: [ConvUnit<B>; 3],
    pub branch_3: MaxPool2d,
}

impl<B: Backend> ReductionB<B> {
    fn new(b: &Builder<'_, B>, scope: &str) -> Result<Self> {
        let c = 896;
        Ok(ReductionB {
            branch_0: [
                b.conv(scope, Spec::new("Branch_0/Conv2d_0a_1x1", c, 256, [1, 1]))?,
                b.conv(
                    scope,
                    Spec::new("Branch_0/Conv2d_1a_3x3", 256, 384, [3, 3]).stride2_valid(),
                )?,
            ],
            branch_1: [
                b.conv(scope, Spec::new("Branch_1/Conv2d_0a_1x1", c, 256, [1, 1]))?,
                b.conv(
                    scope,
                    Spec::new("Branch_1/Conv2d_1a_3x3", 256, 256, [3, 3]).stride2_valid(),
                )?,
            ],
            branch_2: [
                b.conv(scope, Spec::new("Branch_2/Conv2d_0a_1x1", c, 256, [1, 1]))?,
                b.conv(scope, Spec::new("Branch_2/Conv2d_0b_3x3", 256, 256, [3, 3]))?,
                b.conv(
                    scope,
                    Spec::new("Branch_2/Conv2d_1a_3x3", 256, 256, [3, 3]).stride2_valid(),
                )?,
            ],
            branch_3: max_pool_3x3_s2(),
        })
    }

    pub fn forward(&self, net: Tensor<B, 4>) -> Tensor<B, 4> {
        let tower_conv = chain(&self.branch_0, net.clone());
        let tower_conv1 = chain(&self.branch_1, net.clone());
        let tower_conv2 = chain(&self.branch_2, net.clone());
        let tower_pool = self.branch_3.forward(net);
        Tensor::cat(vec![tower_conv, tower_conv1, tower_conv2, tower_pool], 1)
    }
}

/// `slim.fully_connected(net, bottleneck_layer_size, activation_fn=None, scope='Bottleneck')`
/// with the arg scope's `normalizer_fn=slim.batch_norm`: no bias, batch norm instead.
#[derive(Module, Debug)]
pub struct Bottleneck<B: Backend> {
    pub linear: Linear<B>,
    pub bn: BatchNorm<B>,
}

#[derive(Module, Debug)]
pub struct InceptionResnetV1<B: Backend> {
    pub conv2d_1a_3x3: ConvUnit<B>,
    pub conv2d_2a_3x3: ConvUnit<B>,
    pub conv2d_2b_3x3: ConvUnit<B>,
    pub maxpool_3a_3x3: MaxPool2d,
    pub conv2d_3b_1x1: ConvUnit<B>,
    pub conv2d_4a_3x3: ConvUnit<B>,
    pub conv2d_4b_3x3: ConvUnit<B>,
    pub repeat: Vec<Block35<B>>,
    pub mixed_6a: ReductionA<B>,
    pub repeat_1: Vec<Block17<B>>,
    pub mixed_7a: ReductionB<B>,
    pub repeat_2: Vec<Block8<B>>,
    pub block8: Block8<B>,
    pub dropout: Dropout,
    pub bottleneck: Bottleneck<B>,
}

impl<B: Backend> InceptionResnetV1<B> {
    pub fn new(cfg: &Config, init: &Init<'_>, device: &B::Device) -> Result<Self> {
        let b = Builder::<B> { cfg, init, device };
        let s = SCOPE;
        let repeat = (1..=5)
            .map(|i| Block35::new(&b, &format!("{s}/Repeat/block35_{i}"), BLOCK35_SCALE))
            .collect::<Result<_>>()?;
        let repeat_1 = (1..=10)
            .map(|i| Block17::new(&b, &format!("{s}/Repeat_1/block17_{i}"), BLOCK17_SCALE))
            .collect::<Result<_>>()?;
        let repeat_2 = (1..=5)
            .map(|i| Block8::new(&b, &format!("{s}/Repeat_2/block8_{i}"), BLOCK8_SCALE, true))
            .collect::<Result<_>>()?;
        Ok(InceptionResnetV1 {
            // 149 x 149 x 32 at the original's 299 px; 79 x 79 x 32 at 160 px.
            conv2d_1a_3x3: b.conv(s, Spec::new("Conv2d_1a_3x3", 3, 32, [3, 3]).stride2_valid())?,
            conv2d_2a_3x3: b.conv(s, Spec::new("Conv2d_2a_3x3", 32, 32, [3, 3]).valid())?,
            conv2d_2b_3x3: b.conv(s, Spec::new("Conv2d_2b_3x3", 32, 64, [3, 3]))?,
            maxpool_3a_3x3: max_pool_3x3_s2(),
            conv2d_3b_1x1: b.conv(s, Spec::new("Conv2d_3b_1x1", 64, 80, [1, 1]).valid())?,
            conv2d_4a_3x3: b.conv(s, Spec::new("Conv2d_4a_3x3", 80, 192, [3, 3]).valid())?,
            conv2d_4b_3x3: b.conv(
                s,
                Spec::new("Conv2d_4b_3x3", 192, 256, [3, 3]).stride2_valid(),
            )?,
            repeat,
            mixed_6a: ReductionA::new(&b, &format!("{s}/Mixed_6a"))?,
            repeat_1,
            mixed_7a: ReductionB::new(&b, &format!("{s}/Mixed_7a"))?,
            repeat_2,
            block8: Block8::new(&b, &format!("{s}/Block8"), 1.0, false)?,
            dropout: DropoutConfig::new(1.0 - cfg.dropout_keep_prob).init(),
            bottleneck: bottleneck(cfg, init, device)?,
        })
    }

    /// `x`: `[N, 3, 160, 160]`, standardised.
    pub fn forward(&self, x: Tensor<B, 4>) -> Output<B> {
        let net = self.conv2d_1a_3x3.forward(x);
        let net = self.conv2d_2a_3x3.forward(net);
        let net = self.conv2d_2b_3x3.forward(net);
        let net = self.maxpool_3a_3x3.forward(net);
        let net = self.conv2d_3b_1x1.forward(net);
        let net = self.conv2d_4a_3x3.forward(net);
        let mut net = self.conv2d_4b_3x3.forward(net);
        for block in &self.repeat {
            net = block.forward(net);
        }
        net = self.mixed_6a.forward(net);
        for block in &self.repeat_1 {
            net = block.forward(net);
        }
        net = self.mixed_7a.forward(net);
        for block in &self.repeat_2 {
            net = block.forward(net);
        }
        net = self.block8.forward(net);
        // Logits/AvgPool_1a_8x8: a VALID pool over the whole map is its mean.
        let [n, c, _, _] = net.dims();
        let net: Tensor<B, 2> = net.mean_dim(3).mean_dim(2).reshape([n, c]);
        let net = self.dropout.forward(net);
        let prelogits = self
            .bottleneck
            .bn
            .forward(self.bottleneck.linear.forward(net));
        let embeddings = l2_normalize(prelogits.clone());
        Output {
            prelogits,
            embeddings,
        }
    }

    /// Every convolution unit, in a fixed order (for export and checkpoints).
    pub fn conv_units(&self) -> Vec<&ConvUnit<B>> {
        let mut v = vec![
            &self.conv2d_1a_3x3,
            &self.conv2d_2a_3x3,
            &self.conv2d_2b_3x3,
            &self.conv2d_3b_1x1,
            &self.conv2d_4a_3x3,
            &self.conv2d_4b_3x3,
        ];
        for b in &self.repeat {
            v.push(&b.branch_0);
            v.extend(b.branch_1.iter());
            v.extend(b.branch_2.iter());
            v.push(&b.up);
        }
        v.push(&self.mixed_6a.branch_0);
        v.extend(self.mixed_6a.branch_1.iter());
        for b in &self.repeat_1 {
            v.push(&b.branch_0);
            v.extend(b.branch_1.iter());
            v.push(&b.up);
        }
        let r = &self.mixed_7a;
        v.extend(r.branch_0.iter().chain(&r.branch_1).chain(&r.branch_2));
        for b in self.repeat_2.iter().chain(std::iter::once(&self.block8)) {
            v.push(&b.branch_0);
            v.extend(b.branch_1.iter());
            v.push(&b.up);
        }
        v
    }
}

fn bottleneck<B: Backend>(
    cfg: &Config,
    init: &Init<'_>,
    device: &B::Device,
) -> Result<Bottleneck<B>> {
    let mut linear = LinearConfig::new(PRELOGITS_CHANNELS, cfg.embedding_size)
        .with_bias(false)
        .with_initializer(Initializer::XavierUniform { gain: 1.0 })
        .init(device);
    let mut bn = batch_norm(cfg.embedding_size, device);
    if let Init::Pretrained(w) = init {
        let bw = w.bottleneck(cfg.embedding_size)?;
        linear.weight = Param::from_tensor(tensor(bw.weight, device));
        bn.gamma = Param::from_tensor(tensor(bw.gamma, device)).set_require_grad(false);
        bn.beta = Param::from_tensor(tensor(bw.beta, device));
        bn.running_mean = burn::module::RunningState::new(tensor(bw.mean, device));
        bn.running_var = burn::module::RunningState::new(tensor(bw.var, device));
        bn.epsilon = bw.epsilon;
    }
    Ok(Bottleneck { linear, bn })
}

fn chain<B: Backend>(units: &[ConvUnit<B>], x: Tensor<B, 4>) -> Tensor<B, 4> {
    units.iter().fold(x, |x, u| u.forward(x))
}

/// `net += scale * up`, then the block's activation.
fn residual<B: Backend>(
    net: Tensor<B, 4>,
    up: Tensor<B, 4>,
    scale: f32,
    activation: bool,
) -> Tensor<B, 4> {
    let net = net + up.mul_scalar(scale);
    if activation {
        relu(net)
    } else {
        net
    }
}

fn max_pool_3x3_s2() -> MaxPool2d {
    MaxPool2dConfig::new([3, 3]).with_strides([2, 2]).init()
}

/// `x * rsqrt(max(sum(x^2), epsilon))`, as `tf.nn.l2_normalize`.
pub fn l2_normalize<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let norm = x
        .clone()
        .powi_scalar(2)
        .sum_dim(1)
        .clamp_min(L2_EPSILON)
        .sqrt();
    x / norm
}
