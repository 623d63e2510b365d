//! The five optimisers against TensorFlow's update rules with the original's settings
//! (`facenet.train`), computed by hand in f64 over two steps of a constant gradient.

use burn::module::{Module, Param};
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use facenet_train::optim::{Kind, TfOptimizer};
use facenet_train::CpuAutodiff;

#[derive(Module, Debug)]
struct One<B: Backend> {
    w: Param<Tensor<B, 2>>,
}

const W0: [f64; 2] = [1.0, 0.3];
const C: [f64; 2] = [0.5, -2.0];
const LR: f64 = 0.1;

/// Two steps of `kind` on `loss = sum(C * w)` (gradient `C`, plus `decay * w`).
fn run(kind: Kind, decay: f32) -> Vec<f32> {
    let device = Default::default();
    let w0: Vec<f32> = W0.iter().map(|&v| v as f32).collect();
    let c: Vec<f32> = C.iter().map(|&v| v as f32).collect();
    let mut m = One::<CpuAutodiff> {
        w: Param::from_tensor(Tensor::from_data(TensorData::new(w0, [1, 2]), &device)),
    };
    let c = Tensor::<CpuAutodiff, 2>::from_data(TensorData::new(c, [1, 2]), &device);
    let mut opt = TfOptimizer {
        kind,
        weight_decay: decay,
    }
    .init::<CpuAutodiff, One<CpuAutodiff>>();
    for _ in 0..2 {
        let loss = (m.w.val() * c.clone()).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        m = opt.step(LR, m, grads);
    }
    m.w.val().into_data().to_vec::<f32>().unwrap()
}

/// TensorFlow's rule for one parameter: two steps from `w`.
fn expected(kind: Kind, decay: f64, mut w: f64, c: f64) -> f64 {
    let (mut a, mut b) = match kind {
        Kind::Adagrad => (0.1, 0.0),
        Kind::Rmsprop => (1.0, 0.0),
        _ => (0.0, 0.0),
    };
    for t in 1..=2 {
        let g = c + decay * w;
        match kind {
            Kind::Adagrad => {
                a += g * g;
                w -= LR * g / a.sqrt();
            }
            Kind::Adadelta => {
                a = 0.9 * a + 0.1 * g * g;
                let u = (b + 1e-6f64).sqrt() / (a + 1e-6f64).sqrt() * g;
                b = 0.9 * b + 0.1 * u * u;
                w -= LR * u;
            }
            Kind::Adam => {
                let lr_t = LR * (1.0 - 0.999f64.powi(t)).sqrt() / (1.0 - 0.9f64.powi(t));
                a = 0.9 * a + 0.1 * g;
                b = 0.999 * b + 0.001 * g * g;
                w -= lr_t * a / (b.sqrt() + 0.1);
            }
            Kind::Rmsprop => {
                a = 0.9 * a + 0.1 * g * g;
                b = 0.9 * b + LR * g / (a + 1.0).sqrt();
                w -= b;
            }
            Kind::Mom => {
                a = 0.9 * a + g;
                w -= LR * (g + 0.9 * a);
            }
        }
    }
    w
}

#[test]
fn optimisers_follow_tensorflows_rules() {
    for kind in [
        Kind::Adagrad,
        Kind::Adadelta,
        Kind::Adam,
        Kind::Rmsprop,
        Kind::Mom,
    ] {
        for decay in [0.0f32, 0.05] {
            let got = run(kind, decay);
            for i in 0..2 {
                let want = expected(kind, f64::from(decay), W0[i], C[i]);
                eprintln!(
                    "{} decay {decay}: w[{i}] {} want {want:.7}",
                    kind.name(),
                    got[i]
                );
                assert!(
                    (f64::from(got[i]) - want).abs() < 1e-5,
                    "{} decay {decay}: w[{i}] = {} but TensorFlow gives {want}",
                    kind.name(),
                    got[i]
                );
                assert!((f64::from(got[i]) - W0[i]).abs() > 1e-4, "did not move");
            }
        }
    }
}
