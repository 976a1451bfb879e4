//! Embedding lookup (Gather of a constant table by computed indices): index `v` (the integer
//! `v·2^s` once quantized) selects row `v` of the table `[V, ..]`. Proven by one lookup per
//! output value into a table per column, `(v·2^s, table[v][j])`; an index that is not an integer
//! in `[0, V)` has no row, and the forward pass refuses it.

use halo2_proofs::plonk::Error;
use serde::{Deserialize, Serialize};

use super::{arity, EvalCx, Evaluation, FloatOp, IntOp, LayoutCx, QOp, QuantizeCx, Shaped};
use crate::arith::table::LookupTable;
use crate::error::ProverError;
use crate::gadgets::Num;
use crate::tensor::Tensor;

/// An embedding table, rows first (at the activation scale once quantized).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Embedding<T> {
    /// Shape `[V, ..]`.
    pub table: Tensor<T>,
}

/// Output shape of an embedding lookup: the indices' shape, then the table's row shape.
pub fn embedding_shape(indices: &[usize], table: &[usize]) -> Result<Vec<usize>, ProverError> {
    if table.len() < 2 || table[0] == 0 {
        return Err(ProverError::Shape(format!("an embedding table of shape {table:?} (expected [V, ..] with V ≥ 1)")));
    }
    Ok(indices.iter().chain(&table[1..]).copied().collect())
}

/// The lookup tables of an embedding, one per table column: index `v·2^s` → `table[v][j]`.
pub fn embedding_columns(table: &Tensor<i64>, scale_bits: u32) -> Vec<LookupTable> {
    let rows = table.shape()[0].max(1);
    let width = table.len() / rows;
    (0..width)
        .map(|j| LookupTable::Pairs((0..rows).map(|v| ((v as i64) << scale_bits, table.data()[v * width + j])).collect()))
        .collect()
}

impl<T: Copy> Shaped for Embedding<T> {
    fn name(&self) -> &'static str {
        "Embedding"
    }

    fn output_shape(&self, inputs: &[&[usize]], _: &[usize]) -> Result<Vec<usize>, ProverError> {
        arity("Embedding", inputs, 1)?;
        embedding_shape(inputs[0], self.table.shape())
    }
}

impl FloatOp for Embedding<f32> {
    fn eval(&self, args: &[&Tensor<f32>], shape: &[usize]) -> Result<Tensor<f32>, ProverError> {
        let rows = self.table.shape()[0];
        let width = self.table.len() / rows.max(1);
        let mut data = Vec::with_capacity(args[0].len() * width);
        for &x in args[0].data() {
            let v = x.round();
            if v < 0.0 || v as usize >= rows || (v - x).abs() > 1e-4 {
                return Err(ProverError::Input(format!("embedding index {x} is not an integer in [0, {rows})")));
            }
            data.extend_from_slice(&self.table.data()[v as usize * width..(v as usize + 1) * width]);
        }
        Tensor::new(shape.to_vec(), data)
    }

    fn quantize(&self, cx: &QuantizeCx<'_>) -> Result<QOp, ProverError> {
        Ok(QOp::Embedding(Embedding { table: cx.tensor(&self.table)? }))
    }
}

impl IntOp for Embedding<i64> {
    fn eval(&self, args: &[&Tensor<i64>], cx: &EvalCx<'_>) -> Result<Evaluation, ProverError> {
        let columns = embedding_columns(&self.table, cx.scale_bits);
        let mut out = Vec::with_capacity(cx.shape.iter().product());
        for &x in args[0].data() {
            for column in &columns {
                out.push(column.eval(x).ok_or_else(|| {
                    let index = x as f64 / (1u64 << cx.scale_bits) as f64;
                    cx.refuse(format!("embedding index {index} is not an integer in [0, {})", self.table.shape()[0]))
                })?);
            }
        }
        Ok(Evaluation::plain(cx.output(out)?))
    }

    fn tables(&self, scale_bits: u32) -> Vec<LookupTable> {
        embedding_columns(&self.table, scale_bits)
    }

    fn layout(&self, cx: &mut LayoutCx<'_, '_, '_>, args: &[&[Num]]) -> Result<Vec<Num>, Error> {
        // One lookup per output value: (index cell, value) against the column's table.
        let columns = embedding_columns(&self.table, cx.scale_bits);
        let values = cx.outputs();
        let mut outs = Vec::with_capacity(values.len());
        for (x, ys) in args[0].iter().zip(values.chunks(columns.len().max(1))) {
            for (column, &y) in columns.iter().zip(ys) {
                outs.push(cx.ctx.range.lookup_function(cx.ctx.region, x, column, y)?);
            }
        }
        Ok(outs)
    }
}
