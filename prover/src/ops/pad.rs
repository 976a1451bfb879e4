//! Constant padding: `(before, after)` elements per axis, filled with a constant. The layout
//! copies nothing: the output's cells are the input's own cells and one fixed constant cell for
//! every padded position ([`crate::gadgets::constant`]).

use halo2_proofs::plonk::Error;
use serde::{Deserialize, Serialize};

use super::{arity, EvalCx, Evaluation, FloatOp, IntOp, LayoutCx, QOp, QuantizeCx, Shaped};
use crate::error::ProverError;
use crate::gadgets::constant::ConstantChip;
use crate::gadgets::Num;
use crate::tensor::{strides, Tensor};

/// Constant padding (the fill at the activation scale once quantized).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pad<T> {
    /// `(before, after)` per axis.
    pub pads: Vec<(usize, usize)>,
    /// The fill value.
    pub value: T,
}

/// The shape of `shape` padded by `pads` (`(before, after)` per axis).
pub fn padded_shape(shape: &[usize], pads: &[(usize, usize)]) -> Result<Vec<usize>, ProverError> {
    if pads.len() != shape.len() {
        return Err(ProverError::Shape(format!("{} pads for a tensor of rank {}", pads.len(), shape.len())));
    }
    Ok(shape.iter().zip(pads).map(|(&d, &(b, a))| d + b + a).collect())
}

/// For every element of the padded tensor, the input element it copies, or `None` for padding.
pub fn pad_sources(shape: &[usize], pads: &[(usize, usize)]) -> Result<Vec<Option<usize>>, ProverError> {
    let out = padded_shape(shape, pads)?;
    let (in_strides, out_strides) = (strides(shape), strides(&out));
    let count: usize = out.iter().product();
    Ok((0..count)
        .map(|o| {
            let mut index = 0;
            for d in 0..out.len() {
                let c = (o / out_strides[d]) % out[d];
                if c < pads[d].0 || c >= pads[d].0 + shape[d] {
                    return None;
                }
                index += (c - pads[d].0) * in_strides[d];
            }
            Some(index)
        })
        .collect())
}

impl<T: Copy> Pad<T> {
    fn shape(&self, inputs: &[&[usize]]) -> Result<Vec<usize>, ProverError> {
        arity("Pad", inputs, 1)?;
        padded_shape(inputs[0], &self.pads)
    }

    fn apply(&self, x: &Tensor<T>, shape: &[usize]) -> Result<Tensor<T>, ProverError> {
        let data = pad_sources(x.shape(), &self.pads)?.iter().map(|s| s.map_or(self.value, |i| x.data()[i])).collect();
        Tensor::new(shape.to_vec(), data)
    }
}

impl<T: Copy> Shaped for Pad<T> {
    fn name(&self) -> &'static str {
        "Pad"
    }

    fn output_shape(&self, inputs: &[&[usize]], _: &[usize]) -> Result<Vec<usize>, ProverError> {
        self.shape(inputs)
    }
}

impl FloatOp for Pad<f32> {
    fn eval(&self, args: &[&Tensor<f32>], shape: &[usize]) -> Result<Tensor<f32>, ProverError> {
        self.apply(args[0], shape)
    }

    fn quantize(&self, cx: &QuantizeCx<'_>) -> Result<QOp, ProverError> {
        Ok(QOp::Pad(Pad { pads: self.pads.clone(), value: cx.value(self.value as f64)? }))
    }
}

impl IntOp for Pad<i64> {
    fn eval(&self, args: &[&Tensor<i64>], cx: &EvalCx<'_>) -> Result<Evaluation, ProverError> {
        Ok(Evaluation::plain(self.apply(args[0], cx.shape)?))
    }

    fn layout(&self, cx: &mut LayoutCx<'_, '_, '_>, args: &[&[Num]]) -> Result<Vec<Num>, Error> {
        let fill = ConstantChip::new(crate::need!(cx.config, constant)?).assign(cx.ctx, self.value as i128)?;
        let sources = pad_sources(cx.input_shape(0), &self.pads).map_err(|_| Error::Synthesis)?;
        Ok(sources.iter().map(|src| src.map_or(fill, |i| args[0][i])).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_copies_the_interior() {
        assert_eq!(pad_sources(&[2], &[(1, 2)]).unwrap(), vec![None, Some(0), Some(1), None, None]);
        let s = pad_sources(&[1, 2], &[(0, 0), (1, 0)]).unwrap();
        assert_eq!(s, vec![None, Some(0), Some(1)]);
    }
}
