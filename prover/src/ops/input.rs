//! A model input: values given at prove time, each range-checked as an activation.

use halo2_proofs::plonk::Error;
use serde::{Deserialize, Serialize};

use super::{arity, EvalCx, Evaluation, FloatOp, IntOp, LayoutCx, QOp, QuantizeCx, Shaped};
use crate::error::ProverError;
use crate::gadgets::Num;
use crate::tensor::Tensor;

/// A model input; its shape is the node's shape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input;

impl Shaped for Input {
    fn name(&self) -> &'static str {
        "Input"
    }

    fn output_shape(&self, inputs: &[&[usize]], declared: &[usize]) -> Result<Vec<usize>, ProverError> {
        arity("Input", inputs, 0).map(|_| declared.to_vec())
    }
}

impl FloatOp for Input {
    fn eval(&self, _: &[&Tensor<f32>], _: &[usize]) -> Result<Tensor<f32>, ProverError> {
        Err(ProverError::Model("an Input node has no operator to evaluate".into()))
    }

    fn quantize(&self, _: &QuantizeCx<'_>) -> Result<QOp, ProverError> {
        Ok(QOp::Input(Input))
    }
}

impl IntOp for Input {
    /// The given value, every element claimed in the activation range.
    fn eval(&self, _: &[&Tensor<i64>], cx: &EvalCx<'_>) -> Result<Evaluation, ProverError> {
        let value = cx.input.ok_or_else(|| ProverError::Input(format!("no value for input {}", cx.name)))?;
        cx.claim(cx.ranges.activation, value.data().iter().map(|&v| v as i128), "input")?;
        Ok(Evaluation::plain(value.clone()))
    }

    /// Packed `W` to a row over the advice columns, each cell range-checked.
    fn layout(&self, cx: &mut LayoutCx<'_, '_, '_>, _: &[&[Num]]) -> Result<Vec<Num>, Error> {
        let values = cx.outputs();
        let cols = &cx.config.columns.advice;
        let start = cx.ctx.take_rows(values.len().div_ceil(cols.len()));
        let mut nums = Vec::with_capacity(values.len());
        for (i, v) in values.into_iter().enumerate() {
            let num = cx.ctx.assign(cols[i % cols.len()], start + i / cols.len(), v);
            cx.ctx.check_range(&num, cx.ranges.activation)?;
            nums.push(num);
        }
        Ok(nums)
    }
}
