//! Tabulated functions (sigmoid, tanh, exp, erf, GELU's residual): `y = round(f(x / 2^s) · 2^s)`
//! on the function's integer domain, proven by one lookup per value into the function's table
//! ([`crate::arith::table`]). An input outside the domain has no row: the forward pass refuses it.

use halo2_proofs::plonk::Error;
use serde::{Deserialize, Serialize};

use super::relu::unary_shape;
use super::{EvalCx, Evaluation, FloatOp, IntOp, LayoutCx, QOp, QuantizeCx, Shaped};
use crate::arith::table::{Function, FunctionTable, LookupTable};
use crate::error::ProverError;
use crate::gadgets::Num;
use crate::tensor::Tensor;

/// A float function applied elementwise (the importer clamps its input where it saturates).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tabulated {
    /// Which function.
    pub function: Function,
}

/// The integer function: a lookup into `table`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lookup {
    /// The function on its integer domain.
    pub table: FunctionTable,
}

impl Shaped for Tabulated {
    fn name(&self) -> &'static str {
        self.function.name()
    }

    fn output_shape(&self, inputs: &[&[usize]], _: &[usize]) -> Result<Vec<usize>, ProverError> {
        unary_shape(self.function.name(), inputs)
    }
}

impl FloatOp for Tabulated {
    fn eval(&self, args: &[&Tensor<f32>], _: &[usize]) -> Result<Tensor<f32>, ProverError> {
        Ok(args[0].map(|&x| self.function.eval(x as f64) as f32))
    }

    /// Tabulated on [`Function::domain`] at the model's scale and range.
    fn quantize(&self, cx: &QuantizeCx<'_>) -> Result<QOp, ProverError> {
        let (lo, hi) = self.function.domain(cx.scale_bits, cx.range_bits);
        let (lo, hi) = (cx.value(lo)?, cx.value(hi)?);
        if hi < lo {
            return Err(ProverError::Input(format!("node {}: {} has no domain at {} range bits", cx.name, self.function.name(), cx.range_bits)));
        }
        Ok(QOp::Function(Lookup { table: FunctionTable { function: self.function, lo, hi, scale_bits: cx.scale_bits } }))
    }
}

impl Shaped for Lookup {
    fn name(&self) -> &'static str {
        self.table.function.name()
    }

    fn output_shape(&self, inputs: &[&[usize]], _: &[usize]) -> Result<Vec<usize>, ProverError> {
        unary_shape(self.table.function.name(), inputs)
    }
}

impl IntOp for Lookup {
    fn eval(&self, args: &[&Tensor<i64>], cx: &EvalCx<'_>) -> Result<Evaluation, ProverError> {
        let t = &self.table;
        let outputs = args[0].data().iter().map(|&x| t.eval(x)).collect::<Option<Vec<_>>>().ok_or_else(|| {
            cx.refuse(format!("an input leaves the {} table's domain [{}, {}]", t.function.name(), t.lo, t.hi))
        })?;
        Ok(Evaluation::plain(cx.output(outputs)?))
    }

    fn tables(&self, _: u32) -> Vec<LookupTable> {
        vec![LookupTable::Function(self.table)]
    }

    fn layout(&self, cx: &mut LayoutCx<'_, '_, '_>, args: &[&[Num]]) -> Result<Vec<Num>, Error> {
        let table = LookupTable::Function(self.table);
        let mut outs = Vec::with_capacity(args[0].len());
        for (x, y) in args[0].iter().zip(cx.outputs()) {
            outs.push(cx.ctx.range.lookup_function(cx.ctx.region, x, &table, y)?);
        }
        Ok(outs)
    }
}
