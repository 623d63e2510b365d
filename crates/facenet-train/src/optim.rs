//! The optimisers of `facenet.train` (`--optimizer ADAGRAD|ADADELTA|ADAM|RMSPROP|MOM`), with
//! TensorFlow 1's update rules and the hyper-parameters facenet passes them.
//!
//! Written here rather than taken from burn because the details matter when fine-tuning: TF's
//! Adagrad starts its accumulator at 0.1 (burn's at 0, so its first step moves every weight by
//! the full learning rate), TF's RMSProp starts its mean square at 1, and facenet uses Adam's
//! epsilon 0.1 and Nesterov momentum. Each is a few lines over burn's `SimpleOptimizer`.
//!
//! Weight decay is `--weight_decay`'s L2 regulariser, which slim puts on weights only (kernels
//! and the bottleneck matrix), not on biases or batch-norm offsets: its gradient `wd * w` is
//! added for tensors of rank 2 and more.

use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{LearningRate, SimpleOptimizer};
use burn::record::Record;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Kind {
    Adagrad,
    Adadelta,
    Adam,
    Rmsprop,
    Mom,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Adagrad => "ADAGRAD",
            Kind::Adadelta => "ADADELTA",
            Kind::Adam => "ADAM",
            Kind::Rmsprop => "RMSPROP",
            Kind::Mom => "MOM",
        }
    }
}

/// `tf.train.AdagradOptimizer`'s `initial_accumulator_value`.
pub const ADAGRAD_INITIAL_ACCUMULATOR: f32 = 0.1;
/// `tf.train.AdadeltaOptimizer(lr, rho=0.9, epsilon=1e-6)`.
pub const ADADELTA_RHO: f32 = 0.9;
pub const ADADELTA_EPSILON: f32 = 1e-6;
/// `tf.train.AdamOptimizer(lr, beta1=0.9, beta2=0.999, epsilon=0.1)`.
pub const ADAM_BETA1: f32 = 0.9;
pub const ADAM_BETA2: f32 = 0.999;
pub const ADAM_EPSILON: f32 = 0.1;
/// `tf.train.RMSPropOptimizer(lr, decay=0.9, momentum=0.9, epsilon=1.0)`.
pub const RMSPROP_DECAY: f32 = 0.9;
pub const RMSPROP_MOMENTUM: f32 = 0.9;
pub const RMSPROP_EPSILON: f32 = 1.0;
/// `tf.train.MomentumOptimizer(lr, 0.9, use_nesterov=True)`.
pub const MOM_MOMENTUM: f32 = 0.9;

#[derive(Debug, Clone, Copy)]
pub struct TfOptimizer {
    pub kind: Kind,
    pub weight_decay: f32,
}

/// Per-tensor slots: Adagrad's accumulator; Adadelta's two accumulators; Adam's m and v;
/// RMSProp's mean square and momentum; Momentum's accumulator.
#[derive(Record, Clone)]
pub struct State<B: Backend, const D: usize> {
    pub a: Tensor<B, D>,
    pub b: Option<Tensor<B, D>>,
    pub time: usize,
}

impl<B: Backend> SimpleOptimizer<B> for TfOptimizer {
    type State<const D: usize> = State<B, D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        var: Tensor<B, D>,
        mut g: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        if self.weight_decay != 0.0 && D >= 2 {
            g = g + var.clone().mul_scalar(self.weight_decay);
        }
        let lr = lr as f32;
        let time = state.as_ref().map_or(0, |s| s.time) + 1;
        match self.kind {
            Kind::Adagrad => {
                let accum = state.map_or_else(
                    || g.ones_like().mul_scalar(ADAGRAD_INITIAL_ACCUMULATOR),
                    |s| s.a,
                ) + g.clone().powi_scalar(2);
                let var = var - g.mul_scalar(lr) / accum.clone().sqrt();
                (
                    var,
                    Some(State {
                        a: accum,
                        b: None,
                        time,
                    }),
                )
            }
            Kind::Adadelta => {
                let (accum, accum_update) = match state {
                    Some(State { a, b: Some(b), .. }) => (a, b),
                    _ => (g.zeros_like(), g.zeros_like()),
                };
                let accum = accum.mul_scalar(ADADELTA_RHO)
                    + g.clone().powi_scalar(2).mul_scalar(1.0 - ADADELTA_RHO);
                let update = accum_update.clone().add_scalar(ADADELTA_EPSILON).sqrt()
                    / accum.clone().add_scalar(ADADELTA_EPSILON).sqrt()
                    * g;
                let accum_update = accum_update.mul_scalar(ADADELTA_RHO)
                    + update.clone().powi_scalar(2).mul_scalar(1.0 - ADADELTA_RHO);
                let var = var - update.mul_scalar(lr);
                (
                    var,
                    Some(State {
                        a: accum,
                        b: Some(accum_update),
                        time,
                    }),
                )
            }
            Kind::Adam => {
                let (m, v) = match state {
                    Some(State { a, b: Some(b), .. }) => (a, b),
                    _ => (g.zeros_like(), g.zeros_like()),
                };
                let t = time as i32;
                let lr_t = lr * (1.0 - ADAM_BETA2.powi(t)).sqrt() / (1.0 - ADAM_BETA1.powi(t));
                let m = m.mul_scalar(ADAM_BETA1) + g.clone().mul_scalar(1.0 - ADAM_BETA1);
                let v = v.mul_scalar(ADAM_BETA2) + g.powi_scalar(2).mul_scalar(1.0 - ADAM_BETA2);
                let var =
                    var - m.clone().mul_scalar(lr_t) / v.clone().sqrt().add_scalar(ADAM_EPSILON);
                (
                    var,
                    Some(State {
                        a: m,
                        b: Some(v),
                        time,
                    }),
                )
            }
            Kind::Rmsprop => {
                let (ms, mom) = match state {
                    Some(State { a, b: Some(b), .. }) => (a, b),
                    _ => (g.ones_like(), g.zeros_like()),
                };
                let ms = ms.mul_scalar(RMSPROP_DECAY)
                    + g.clone().powi_scalar(2).mul_scalar(1.0 - RMSPROP_DECAY);
                let mom = mom.mul_scalar(RMSPROP_MOMENTUM)
                    + g.mul_scalar(lr) / ms.clone().add_scalar(RMSPROP_EPSILON).sqrt();
                let var = var - mom.clone();
                (
                    var,
                    Some(State {
                        a: ms,
                        b: Some(mom),
                        time,
                    }),
                )
            }
            Kind::Mom => {
                let accum = state.map_or_else(|| g.zeros_like(), |s| s.a);
                let accum = accum.mul_scalar(MOM_MOMENTUM) + g.clone();
                let var = var - (g + accum.clone().mul_scalar(MOM_MOMENTUM)).mul_scalar(lr);
                (
                    var,
                    Some(State {
                        a: accum,
                        b: None,
                        time,
                    }),
                )
            }
        }
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        State {
            a: state.a.to_device(device),
            b: state.b.map(|b| b.to_device(device)),
            time: state.time,
        }
    }
}

impl TfOptimizer {
    pub fn init<B: AutodiffBackend, M: burn::module::AutodiffModule<B>>(
        self,
    ) -> OptimizerAdaptor<TfOptimizer, M, B> {
        OptimizerAdaptor::from(self)
    }
}
