//! The float operators' shape rule and reference evaluation, one match over [`Op`] each; the
//! arithmetic itself lives in [`crate::ops`], shared with the integer semantics.

use crate::error::ProverError;
use crate::ops::{check_picks, elementwise, embedding_shape, linear, reduce};
use crate::tensor::{broadcast_shape, gather, transpose_indices, transpose_shape, Tensor};

use super::Op;

/// The shape `op` produces from inputs of `inputs` shapes. `declared` is the node's own shape,
/// used only by operators whose output shape is an attribute (Input, Reshape).
pub fn output_shape(op: &Op, inputs: &[&[usize]], declared: &[usize]) -> Result<Vec<usize>, ProverError> {
    let arity = |n: usize| {
        if inputs.len() == n {
            Ok(())
        } else {
            Err(ProverError::Shape(format!("{} takes {n} input(s), got {}", op.kind(), inputs.len())))
        }
    };
    match op {
        Op::Input => {
            arity(0)?;
            Ok(declared.to_vec())
        }
        Op::Linear { weight, bias } => {
            arity(1)?;
            linear::linear_shape(inputs[0], weight.shape(), bias.as_ref().map(|b| b.len()))
        }
        Op::MatMul => {
            arity(2)?;
            linear::matmul_shape(inputs[0], inputs[1])
        }
        Op::Add | Op::Mul | Op::Sub | Op::Div => {
            arity(2)?;
            broadcast_shape(inputs[0], inputs[1])
        }
        Op::Reduce { axes, .. } => {
            arity(1)?;
            reduce::reduced_shape(inputs[0], axes)
        }
        Op::Pad { pads, .. } => {
            arity(1)?;
            reduce::padded_shape(inputs[0], pads)
        }
        Op::Embedding { table } => {
            arity(1)?;
            embedding_shape(inputs[0], table.shape())
        }
        Op::AddConst { constant } | Op::MulConst { constant } => {
            arity(1)?;
            let out = broadcast_shape(inputs[0], constant.shape())?;
            if out.as_slice() != inputs[0] {
                return Err(ProverError::Unsupported(format!(
                    "adding a constant of shape {:?} would grow the activation {:?}",
                    constant.shape(),
                    inputs[0]
                )));
            }
            Ok(out)
        }
        Op::Relu | Op::Clamp { .. } | Op::Function { .. } | Op::Reciprocal | Op::Sqrt => {
            arity(1)?;
            Ok(inputs[0].to_vec())
        }
        Op::Transpose { perm } => {
            arity(1)?;
            transpose_shape(inputs[0], perm)
        }
        Op::Select { picks } => {
            check_picks(picks, inputs, declared)?;
            Ok(declared.to_vec())
        }
        Op::Conv { weight, bias, conv } => {
            arity(1)?;
            let out = conv.output_shape(inputs[0], weight.shape())?;
            if bias.as_ref().is_some_and(|b| b.len() != out[3]) {
                return Err(ProverError::Shape(format!("bias length differs from the {} output channels", out[3])));
            }
            Ok(out)
        }
        Op::AvgPool { pool } | Op::MaxPool { pool } => {
            arity(1)?;
            pool.output_shape(inputs[0])
        }
        Op::Reshape => {
            arity(1)?;
            let (from, to): (usize, usize) = (inputs[0].iter().product(), declared.iter().product());
            if from != to {
                return Err(ProverError::Shape(format!("cannot reshape {:?} ({from} values) to {declared:?}", inputs[0])));
            }
            Ok(declared.to_vec())
        }
    }
}

/// The float value of a non-input node.
pub fn eval_f32(op: &Op, args: &[&Tensor<f32>], shape: &[usize]) -> Result<Tensor<f32>, ProverError> {
    match op {
        Op::Input => Err(ProverError::Model("an Input node has no operator to evaluate".into())),
        Op::Linear { weight, bias } => linear::linear_f32(args[0], weight, bias.as_deref()),
        Op::MatMul => linear::matmul_f32(args[0], args[1]),
        Op::Add => elementwise::zip_broadcast(args[0], args[1], |a, b| a + b),
        Op::AddConst { constant } => elementwise::zip_broadcast(args[0], constant, |a, b| a + b),
        Op::Relu => Ok(args[0].map(|&x| x.max(0.0))),
        Op::MulConst { constant } => elementwise::zip_broadcast(args[0], constant, |a, b| a * b),
        Op::Clamp { max } => Ok(args[0].map(|&x| x.clamp(0.0, *max))),
        Op::Function { function } => Ok(args[0].map(|&x| function.eval(x as f64) as f32)),
        Op::Mul => elementwise::zip_broadcast(args[0], args[1], |a, b| a * b),
        Op::Sub => elementwise::zip_broadcast(args[0], args[1], |a, b| a - b),
        Op::Div => elementwise::zip_broadcast(args[0], args[1], |a, b| a / b),
        Op::Reciprocal => Ok(args[0].map(|&x| 1.0 / x)),
        Op::Sqrt => Ok(args[0].map(|&x| x.sqrt())),
        Op::Reduce { axes, kind } => {
            let x = args[0].data();
            let data = reduce::reduce_groups(args[0].shape(), axes)?
                .iter()
                .map(|g| match kind {
                    reduce::ReduceKind::Sum => g.iter().map(|&i| x[i] as f64).sum::<f64>() as f32,
                    reduce::ReduceKind::Mean => (g.iter().map(|&i| x[i] as f64).sum::<f64>() / g.len() as f64) as f32,
                    reduce::ReduceKind::Max => g.iter().map(|&i| x[i]).fold(f32::NEG_INFINITY, f32::max),
                })
                .collect();
            Tensor::new(shape.to_vec(), data)
        }
        Op::Embedding { table } => {
            let rows = table.shape()[0];
            let width = table.len() / rows.max(1);
            let mut data = Vec::with_capacity(args[0].len() * width);
            for &x in args[0].data() {
                let v = x.round();
                if v < 0.0 || v as usize >= rows || (v - x).abs() > 1e-4 {
                    return Err(ProverError::Input(format!("embedding index {x} is not an integer in [0, {rows})")));
                }
                data.extend_from_slice(&table.data()[v as usize * width..(v as usize + 1) * width]);
            }
            Tensor::new(shape.to_vec(), data)
        }
        Op::Pad { pads, value } => {
            let data = reduce::pad_sources(args[0].shape(), pads)?.iter().map(|s| s.map_or(*value, |i| args[0].data()[i])).collect();
            Tensor::new(shape.to_vec(), data)
        }
        Op::Reshape => args[0].clone().reshape(shape.to_vec()),
        Op::Transpose { perm } => gather(args[0].data(), &transpose_indices(args[0].shape(), perm)?, shape.to_vec()),
        Op::Select { picks } => Tensor::new(shape.to_vec(), picks.iter().map(|&(o, i)| args[o].data()[i]).collect()),
        Op::Conv { weight, bias, conv } => {
            let channels = shape[3];
            let data = conv
                .taps(args[0].shape(), weight.shape())?
                .iter()
                .enumerate()
                .map(|(o, taps)| {
                    let b = bias.as_ref().map_or(0.0, |b| b[o % channels] as f64);
                    (taps.iter().map(|&(i, j)| args[0].data()[i] as f64 * weight.data()[j] as f64).sum::<f64>() + b) as f32
                })
                .collect();
            Tensor::new(shape.to_vec(), data)
        }
        Op::AvgPool { pool } => {
            let data = pool
                .taps(args[0].shape())?
                .iter()
                .map(|taps| (taps.iter().map(|&i| args[0].data()[i] as f64).sum::<f64>() / pool.divisor() as f64) as f32)
                .collect();
            Tensor::new(shape.to_vec(), data)
        }
        Op::MaxPool { pool } => {
            let data = pool.taps(args[0].shape())?.iter().map(|taps| taps.iter().map(|&i| args[0].data()[i]).fold(f32::NEG_INFINITY, f32::max)).collect();
            Tensor::new(shape.to_vec(), data)
        }
    }
}
