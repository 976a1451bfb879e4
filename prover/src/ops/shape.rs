//! Operators that move values without arithmetic: Reshape (and Flatten), Transpose and Select
//! (Concat, Slice, Split, Gather with constant indices). Their layout is a choice of cells, with
//! no constraint: the next gadget copies from the right cells.

use halo2_proofs::plonk::Error;
use serde::{Deserialize, Serialize};

use super::{arity, EvalCx, Evaluation, FloatOp, IntOp, LayoutCx, QOp, QuantizeCx, Shaped};
use crate::error::ProverError;
use crate::gadgets::Num;
use crate::tensor::{gather, transpose_indices, transpose_shape, Tensor};

/// The same values in row-major order under the node's shape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reshape;

/// Axes permuted: output axis `i` is input axis `perm[i]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transpose {
    /// The permutation.
    pub perm: Vec<usize>,
}

/// Each output value copied from one input value: output `i` is element `picks[i].1`
/// (row-major) of operand `picks[i].0`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Select {
    /// `(operand, flat index)` for every output value, row-major.
    pub picks: Vec<(usize, usize)>,
}

/// Implements [`Shaped`], [`FloatOp`] and [`IntOp`] for a value-moving operator from its shape rule and one
/// generic evaluation (the same for floats and integers).
macro_rules! moves_values {
    ($ty:ty, $name:literal, $variant:ident) => {
        impl Shaped for $ty {
            fn name(&self) -> &'static str {
                $name
            }

            fn output_shape(&self, inputs: &[&[usize]], declared: &[usize]) -> Result<Vec<usize>, ProverError> {
                self.shape(inputs, declared)
            }
        }

        impl FloatOp for $ty {
            fn eval(&self, args: &[&Tensor<f32>], shape: &[usize]) -> Result<Tensor<f32>, ProverError> {
                self.apply(args, shape)
            }

            fn quantize(&self, _: &QuantizeCx<'_>) -> Result<QOp, ProverError> {
                Ok(QOp::$variant(self.clone()))
            }
        }

        impl IntOp for $ty {
            fn eval(&self, args: &[&Tensor<i64>], cx: &EvalCx<'_>) -> Result<Evaluation, ProverError> {
                Ok(Evaluation::plain(self.apply(args, cx.shape)?))
            }

            fn layout(&self, cx: &mut LayoutCx<'_, '_, '_>, args: &[&[Num]]) -> Result<Vec<Num>, Error> {
                self.cells(args, &cx.input_shapes, cx.shape).map_err(|_| Error::Synthesis)
            }
        }
    };
}

moves_values!(Reshape, "Reshape", Reshape);
moves_values!(Transpose, "Transpose", Transpose);
moves_values!(Select, "Select", Select);

impl Reshape {
    fn shape(&self, inputs: &[&[usize]], declared: &[usize]) -> Result<Vec<usize>, ProverError> {
        arity("Reshape", inputs, 1)?;
        let (from, to): (usize, usize) = (inputs[0].iter().product(), declared.iter().product());
        if from != to {
            return Err(ProverError::Shape(format!("cannot reshape {:?} ({from} values) to {declared:?}", inputs[0])));
        }
        Ok(declared.to_vec())
    }

    fn apply<T: Clone>(&self, args: &[&Tensor<T>], shape: &[usize]) -> Result<Tensor<T>, ProverError> {
        args[0].clone().reshape(shape.to_vec())
    }

    fn cells<C: Copy>(&self, args: &[&[C]], _: &[&[usize]], _: &[usize]) -> Result<Vec<C>, ProverError> {
        Ok(args[0].to_vec())
    }
}

impl Transpose {
    fn shape(&self, inputs: &[&[usize]], _: &[usize]) -> Result<Vec<usize>, ProverError> {
        arity("Transpose", inputs, 1)?;
        transpose_shape(inputs[0], &self.perm)
    }

    fn apply<T: Copy>(&self, args: &[&Tensor<T>], shape: &[usize]) -> Result<Tensor<T>, ProverError> {
        gather(args[0].data(), &transpose_indices(args[0].shape(), &self.perm)?, shape.to_vec())
    }

    fn cells<C: Copy>(&self, args: &[&[C]], shapes: &[&[usize]], _: &[usize]) -> Result<Vec<C>, ProverError> {
        Ok(transpose_indices(shapes[0], &self.perm)?.iter().map(|&i| args[0][i]).collect())
    }
}

impl Select {
    /// Checks that the picks fill `declared` and only name existing operand elements.
    fn shape(&self, inputs: &[&[usize]], declared: &[usize]) -> Result<Vec<usize>, ProverError> {
        if self.picks.len() != declared.iter().product::<usize>() {
            return Err(ProverError::Shape(format!("{} picked values for shape {declared:?}", self.picks.len())));
        }
        if let Some(&(o, i)) = self.picks.iter().find(|&&(o, i)| inputs.get(o).is_none_or(|s| i >= s.iter().product::<usize>())) {
            return Err(ProverError::Shape(format!("picks element {i} of operand {o}, which does not exist")));
        }
        Ok(declared.to_vec())
    }

    fn apply<T: Copy>(&self, args: &[&Tensor<T>], shape: &[usize]) -> Result<Tensor<T>, ProverError> {
        Tensor::new(shape.to_vec(), self.picks.iter().map(|&(o, i)| args[o].data()[i]).collect())
    }

    fn cells<C: Copy>(&self, args: &[&[C]], _: &[&[usize]], _: &[usize]) -> Result<Vec<C>, ProverError> {
        Ok(self.picks.iter().map(|&(o, i)| args[o][i]).collect())
    }
}
