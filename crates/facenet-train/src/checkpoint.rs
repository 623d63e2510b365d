//! The trained weights as safetensors, named by TensorFlow scope (`<scope>/weights`,
//! `<scope>/biases`, `<scope>/BatchNorm/{gamma,beta,moving_mean,moving_variance}`), so they can be
//! read without burn. Resuming uses burn's own records (`model.mpk`, `optimizer.mpk`): the
//! optimiser state is keyed by burn's parameter ids, which only those records keep.

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use safetensors::tensor::{Dtype, TensorView};

use crate::error::{Error, Result};
use crate::export::to_vec;
use crate::inception_resnet_v1::InceptionResnetV1;

/// A tensor on the host: its shape and little-endian f32 bytes.
pub type Host = (Vec<usize>, Vec<u8>);

fn host<B: Backend, const D: usize>(t: Tensor<B, D>) -> Result<Host> {
    let shape = t.dims().to_vec();
    let bytes = to_vec(t)?.iter().flat_map(|v| v.to_le_bytes()).collect();
    Ok((shape, bytes))
}

/// All tensors of `net` by name (weights, biases, batch-norm parameters and statistics).
pub fn named_tensors<B: Backend>(net: &InceptionResnetV1<B>) -> Result<Vec<(String, Host)>> {
    let mut out = Vec::new();
    let mut push = |name: String, t: Host| out.push((name, t));
    let bn_tensors = |prefix: &str, bn: &burn::nn::BatchNorm<B>| -> Result<Vec<(String, Host)>> {
        Ok(vec![
            (format!("{prefix}/BatchNorm/gamma"), host(bn.gamma.val())?),
            (format!("{prefix}/BatchNorm/beta"), host(bn.beta.val())?),
            (
                format!("{prefix}/BatchNorm/moving_mean"),
                host(bn.running_mean.value())?,
            ),
            (
                format!("{prefix}/BatchNorm/moving_variance"),
                host(bn.running_var.value())?,
            ),
        ])
    };
    for u in net.conv_units() {
        push(format!("{}/weights", u.scope), host(u.conv.weight.val())?);
        if let Some(b) = &u.conv.bias {
            push(format!("{}/biases", u.scope), host(b.val())?);
        }
        if let Some(bn) = &u.bn {
            for (n, t) in bn_tensors(&u.scope, bn)? {
                push(n, t);
            }
        }
    }
    let scope = format!("{}/Bottleneck", crate::inception_resnet_v1::SCOPE);
    push(
        format!("{scope}/weights"),
        host(net.bottleneck.linear.weight.val())?,
    );
    for (n, t) in bn_tensors(&scope, &net.bottleneck.bn)? {
        push(n, t);
    }
    Ok(out)
}

pub fn write_safetensors<B: Backend>(net: &InceptionResnetV1<B>, path: &Path) -> Result<()> {
    let tensors = named_tensors(net)?;
    let views = tensors
        .iter()
        .map(|(n, (shape, bytes))| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (n.clone(), v))
                .map_err(|e| Error::Checkpoint {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })
        })
        .collect::<Result<Vec<_>>>()?;
    let meta = HashMap::from([(
        "layout".to_string(),
        "OIHW kernels, [in, out] bottleneck".to_string(),
    )]);
    safetensors::serialize_to_file(views, Some(meta), path).map_err(|e| Error::Checkpoint {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}
