//! Each node's layout: the gadgets it runs on and the witness it assigns.

use halo2_proofs::plonk::Error;

use crate::gadgets::add::AddChip;
use crate::gadgets::clamp::ClampChip;
use crate::gadgets::dot_activations::DotActivationsChip;
use crate::gadgets::dot_weights::DotWeightsChip;
use crate::gadgets::matvec::MatVecChip;
use crate::gadgets::max::{MaxChip, MaxSlot};
use crate::gadgets::constant::ConstantChip;
use crate::gadgets::divide::{DivideChip, Numerator};
use crate::gadgets::freivalds::{FreivaldsChip, PendingCheck};
use crate::gadgets::product::ProductChip;
use crate::gadgets::sqrt::SqrtChip;
use crate::gadgets::relu::ReluChip;
use crate::gadgets::rescale::RescaleChip;
use crate::gadgets::rescale_activation::RescaleActivationChip;
use crate::gadgets::set::ModelConfig;
use crate::gadgets::{Num, RegionCtx};
use crate::ops::conv::conv_output;
use crate::ops::rescale::divide;
use crate::ops::reduce::{self, reduce_groups, ReduceKind};
use crate::ops::elementwise::activate;
use crate::ops::rescale::Rescaled;
use crate::ops::{arith, elementwise, linear};
use crate::ops::nonlinear::LookupTable;
use crate::quantize::{embedding_columns, QOp, QNode};
use crate::tensor::{broadcast_indices, transpose_indices};
use super::*;

impl ModelCircuit {
    /// Rescales every `z` by `divisor` (see [`ModelCircuit::rescale_scaled`]).
    pub(super) fn rescale(&self, config: &ModelConfig, ctx: &mut RegionCtx<'_, '_>, role: NodeRole, items: &[(Num, Option<Rescaled>)], divisor: i64) -> Result<Vec<Num>, Error> {
        let scaled: Vec<_> = items.iter().map(|(z, w)| (*z, 1, *w)).collect();
        self.rescale_scaled(config, ctx, role, &scaled, divisor)
    }

    /// The rescale that ends a node: `round(c·z / divisor)`, range-checked as an activation; for a
    /// fused node, that activation of it, or it plus the constant of the sum after it.
    pub(super) fn rescale_scaled(
        &self,
        config: &ModelConfig,
        ctx: &mut RegionCtx<'_, '_>,
        role: NodeRole,
        items: &[(Num, i64, Option<Rescaled>)],
        divisor: i64,
    ) -> Result<Vec<Num>, Error> {
        match role {
            NodeRole::RescaleThen(activation) => {
                let items: Vec<_> = items.iter().map(|(z, c, w)| (*z, *c, w.map(|w| (w, activate(w.quotient as i64, activation))))).collect();
                RescaleActivationChip::new(crate::need!(config, rescale_activation)?).assign(ctx, &items, divisor, activation, self.ranges.relu)
            }
            NodeRole::RescaleThenAdd(sum) => {
                let QOp::AddConst { constant } = &self.model.nodes[sum].op else {
                    return Err(Error::Synthesis);
                };
                let shifts = broadcast_indices(constant.shape(), &self.model.nodes[sum].shape);
                if shifts.len() != items.len() {
                    return Err(Error::Synthesis);
                }
                let items: Vec<_> = items.iter().zip(&shifts).map(|((z, c, w), &k)| (*z, *c, constant.data()[k], *w)).collect();
                RescaleChip::new(crate::need!(config, rescale)?).assign_shifted(ctx, &items, divisor, self.ranges.activation)
            }
            NodeRole::Plain | NodeRole::Absorbed => RescaleChip::new(crate::need!(config, rescale)?).assign_scaled(ctx, items, divisor, self.ranges.activation),
        }
    }

    /// The maximum of each group of `x`'s cells, as a chain of pairwise maxima.
    pub(super) fn max_chains(&self, config: &ModelConfig, ctx: &mut RegionCtx<'_, '_>, x: &[Num], groups: &[Vec<usize>]) -> Result<Vec<Num>, Error> {
        let chip = MaxChip::new(crate::need!(config, max)?);
        let mut slot = MaxSlot::default();
        let mut outs = Vec::with_capacity(groups.len());
        for group in groups {
            let cells: Vec<Num> = group.iter().map(|&i| x[i]).collect();
            let values: Option<Vec<i64>> = cells.iter().map(|c| c.value.map(|v| v as i64)).collect();
            let steps = values.map(|v| elementwise::max_chain(&v));
            let mut running = *cells.first().ok_or(Error::Synthesis)?;
            for (n, cell) in cells.iter().enumerate().skip(1) {
                let split = steps.as_ref().map(|s| s[n - 1]);
                running = chip.assign(ctx, &mut slot, &running, cell, split, self.ranges.relu)?;
            }
            outs.push(running);
        }
        chip.finish(ctx, &slot);
        Ok(outs)
    }

    pub(super) fn layout_node(
        &self,
        config: &ModelConfig,
        ctx: &mut RegionCtx<'_, '_>,
        node: &QNode,
        role: NodeRole,
        values: &[Vec<Num>],
        next_input: &mut usize,
        params: Option<(&[Num], Num)>,
        deferred: &mut Vec<PendingCheck>,
    ) -> Result<Vec<Num>, Error> {
        if role == NodeRole::Absorbed {
            // The node before computed the activation already.
            return Ok(values[node.inputs[0]].clone());
        }
        let model = &*self.model;
        let shift = model.config.scale_bits;
        let arg = |i: usize| &values[node.inputs[i]];
        let arg_shape = |i: usize| model.nodes[node.inputs[i]].shape.as_slice();
        let count: usize = node.shape.iter().product();
        Ok(match &node.op {
            QOp::Input => {
                let data = self.inputs.as_ref().map(|inputs| inputs[*next_input].data().to_vec());
                *next_input += 1;
                let cols = &config.columns.advice;
                let start = ctx.take_rows(count.div_ceil(cols.len()));
                let mut nums = Vec::with_capacity(count);
                for i in 0..count {
                    let v = data.as_ref().map(|d| d[i] as i128);
                    let num = ctx.assign(cols[i % cols.len()], start + i / cols.len(), v);
                    ctx.check_range(&num, self.ranges.activation)?;
                    nums.push(num);
                }
                nums
            }
            QOp::Linear { weight_t, bias } => {
                let (n, k) = (weight_t.shape()[0], weight_t.shape()[1]);
                let x = arg(0);
                let witness = known(x, arg_shape(0)).map(|x| linear::linear_i(&x, weight_t, bias, shift));
                if let Some((p, one)) = params {
                    let (weights, biases) = p.split_at(n * k);
                    let chip = DotActivationsChip::new(crate::need!(config, dot_activations)?);
                    let mut accs = Vec::with_capacity(count);
                    for (m, row) in x.chunks(k.max(1)).enumerate().take(count / n.max(1)) {
                        let a: Vec<Num> = row.iter().copied().chain([one]).collect();
                        for j in 0..n {
                            let b: Vec<Num> = weights[j * k..(j + 1) * k].iter().copied().chain([biases[j]]).collect();
                            let w = witness.as_ref().map(|w| w[m * n + j]);
                            accs.push((chip.assign(ctx, &a, &b, w.map(|w| w.acc))?, w.map(|w| w.out)));
                        }
                    }
                    return self.rescale(config, ctx, role, &accs, 1 << shift);
                }
                let chip = MatVecChip::new(crate::need!(config, matvec)?);
                let weight_rows: Vec<&[i64]> = weight_t.data().chunks(k.max(1)).take(n).collect();
                let mut accs = Vec::with_capacity(count);
                for (m, row) in x.chunks(k.max(1)).enumerate().take(count / n.max(1)) {
                    let w: Vec<_> = (0..n).map(|j| witness.as_ref().map(|w| w[m * n + j])).collect();
                    let claimed: Vec<_> = w.iter().map(|w| w.map(|w| w.acc)).collect();
                    let cells = chip.assign(ctx, row, &weight_rows, bias, &claimed)?;
                    accs.extend(cells.into_iter().zip(w.iter().map(|w| w.map(|w| w.out))));
                }
                self.rescale(config, ctx, role, &accs, 1 << shift)?
            }
            QOp::MatMul => {
                let (a, b) = (arg(0), arg(1));
                let dims = linear::MatMulDims::new(arg_shape(0), arg_shape(1)).map_err(|_| Error::Synthesis)?;
                let witness = match known(a, arg_shape(0)).zip(known(b, arg_shape(1))) {
                    Some((a, b)) => Some(linear::matmul_i(&a, &b, shift).map_err(|_| Error::Synthesis)?),
                    None => None,
                };
                let chip = DotActivationsChip::new(crate::need!(config, dot_activations)?);
                let mut accs = Vec::with_capacity(count);
                for (o, (row, col)) in dims.operands().enumerate() {
                    let w = witness.as_ref().map(|w| w[o]);
                    let (row, col): (Vec<Num>, Vec<Num>) = (row.iter().map(|&i| a[i]).collect(), col.iter().map(|&j| b[j]).collect());
                    accs.push((chip.assign(ctx, &row, &col, w.map(|w| w.acc))?, w.map(|w| w.out)));
                }
                self.rescale(config, ctx, role, &accs, 1 << shift)?
            }
            QOp::Add => {
                let (ia, ib) = (broadcast_indices(arg_shape(0), &node.shape), broadcast_indices(arg_shape(1), &node.shape));
                let pairs: Vec<(Num, Num)> = ia.iter().zip(&ib).map(|(&i, &j)| (arg(0)[i], arg(1)[j])).collect();
                let sums = known(arg(0), arg_shape(0)).zip(known(arg(1), arg_shape(1))).map(|(a, b)| elementwise::zip_broadcast(&a, &b, |x, y| x + y));
                let sums = claimed_values(sums, count)?;
                AddChip::new(crate::need!(config, add)?).add(ctx, &pairs, &sums)?
            }
            QOp::AddConst { constant } => {
                let (ia, ic) = (broadcast_indices(arg_shape(0), &node.shape), broadcast_indices(constant.shape(), &node.shape));
                let items: Vec<(Num, i64)> = ia.iter().zip(&ic).map(|(&i, &j)| (arg(0)[i], constant.data()[j])).collect();
                let sums = known(arg(0), arg_shape(0)).map(|a| elementwise::zip_broadcast(&a, constant, |x, y| x + y));
                let sums = claimed_values(sums, count)?;
                match params {
                    Some((p, _)) => {
                        let pairs: Vec<(Num, Num)> = ia.iter().zip(&ic).map(|(&i, &j)| (arg(0)[i], p[j])).collect();
                        AddChip::new(crate::need!(config, add)?).add(ctx, &pairs, &sums)?
                    }
                    None => AddChip::new(crate::need!(config, add)?).add_const(ctx, &items, &sums)?,
                }
            }
            QOp::Relu => {
                let items: Vec<_> = arg(0).iter().map(|x| (*x, x.value.map(|v| elementwise::relu(v as i64)))).collect();
                ReluChip::new(crate::need!(config, relu)?).assign(ctx, &items, self.ranges.relu)?
            }
            QOp::Reshape => arg(0).clone(),
            QOp::MaxPool2d { pool } => self.max_chains(config, ctx, arg(0), &pool.taps(arg_shape(0)).map_err(|_| Error::Synthesis)?)?,
            QOp::Lookup { table } => {
                let table = LookupTable::Function(*table);
                let mut outs = Vec::with_capacity(count);
                for x in arg(0) {
                    let y = x.value.and_then(|v| table.eval(v as i64)).map(|y| y as i128);
                    outs.push(ctx.range.lookup_function(ctx.region, x, &table, y)?);
                }
                outs
            }
            QOp::Embedding { table } => {
                // One lookup per output value: (index cell, value) against the column's table.
                let columns = embedding_columns(table, shift);
                let mut outs = Vec::with_capacity(count);
                for x in arg(0) {
                    for column in &columns {
                        let y = x.value.and_then(|v| column.eval(v as i64)).map(|y| y as i128);
                        outs.push(ctx.range.lookup_function(ctx.region, x, column, y)?);
                    }
                }
                outs
            }
            // Like a transpose: the selected cells themselves, no constraint.
            QOp::Select { picks } => picks.iter().map(|&(o, i)| arg(o)[i]).collect(),
            // A permutation of cells: no constraint, the next gadget copies from the right cells.
            QOp::Transpose { perm } => transpose_indices(arg_shape(0), perm).map_err(|_| Error::Synthesis)?.iter().map(|&i| arg(0)[i]).collect(),
            QOp::Conv2d { weight, bias, conv } => {
                let x = arg(0);
                let taps = conv.taps(arg_shape(0), weight.shape()).map_err(|_| Error::Synthesis)?;
                let channels = *node.shape.last().unwrap_or(&1);
                let witness = |t: &[(usize, usize)], o: usize| conv_output(t, o, |i| x[i].value.map(|v| v as i64), weight.data(), bias, shift);
                let mut accs = Vec::with_capacity(count);
                if self.layout.freivalds_nodes.contains(&values.len()) {
                    let outputs = channels.max(1);
                    let (inputs, positions) = (weight.data().len() / outputs, count / outputs);
                    let constant = ConstantChip::new(crate::need!(config, constant)?);
                    let (zero, one) = (constant.assign(ctx, 0)?, constant.assign(ctx, 1)?);
                    // Input slot `s` of every position is tap `s` of its first output channel.
                    let mut patches = vec![vec![None; inputs]; positions];
                    for (patch, group) in patches.iter_mut().zip(taps.chunks(outputs)) {
                        for &(i, slot) in &group[0] {
                            patch[slot] = Some(x[i]);
                        }
                    }
                    let weights: Vec<Vec<i64>> = (0..inputs).map(|s| (0..outputs).map(|o| weight.data()[o * inputs + s]).collect()).collect();
                    let ws: Vec<_> = taps.iter().enumerate().map(|(o, t)| witness(t, o)).collect();
                    let claimed: Vec<_> = ws.iter().map(|w| w.map(|w| w.acc)).collect();
                    let chip = FreivaldsChip::new(crate::need!(config, freivalds)?);
                    let (products, pending) = chip.assign_products(ctx, &patches, &weights, bias, &claimed, &zero, &one)?;
                    deferred.push(pending);
                    accs.extend(products.into_iter().zip(ws.iter().map(|w| w.map(|w| w.out))));
                } else if let Some((p, one)) = params {
                    let (weights, biases) = p.split_at(weight.data().len());
                    let chip = DotActivationsChip::new(crate::need!(config, dot_activations)?);
                    for (o, t) in taps.iter().enumerate() {
                        let a: Vec<Num> = t.iter().map(|&(i, _)| x[i]).chain([one]).collect();
                        let b: Vec<Num> = t.iter().map(|&(_, j)| weights[j]).chain([biases[o % channels]]).collect();
                        let w = witness(t, o);
                        accs.push((chip.assign(ctx, &a, &b, w.map(|w| w.acc))?, w.map(|w| w.out)));
                    }
                } else if conv.depthwise {
                    let chip = DotWeightsChip::new(crate::need!(config, dot_weights)?);
                    for (o, t) in taps.iter().enumerate() {
                        let cells: Vec<Num> = t.iter().map(|&(i, _)| x[i]).collect();
                        let ws: Vec<i64> = t.iter().map(|&(_, j)| weight.data()[j]).collect();
                        let w = witness(t, o);
                        let acc = chip.assign(ctx, &cells, &ws, bias[o % channels], w.map(|w| w.acc))?;
                        accs.push((acc, w.map(|w| w.out)));
                    }
                } else {
                    // Every output channel at one position reads the same input patch.
                    let chip = MatVecChip::new(crate::need!(config, matvec)?);
                    for (p, group) in taps.chunks(channels).enumerate() {
                        let cells: Vec<Num> = group[0].iter().map(|&(i, _)| x[i]).collect();
                        let rows: Vec<Vec<i64>> = group.iter().map(|t| t.iter().map(|&(_, j)| weight.data()[j]).collect()).collect();
                        let rows: Vec<&[i64]> = rows.iter().map(Vec::as_slice).collect();
                        let ws: Vec<_> = group.iter().enumerate().map(|(c, t)| witness(t, p * channels + c)).collect();
                        let claimed: Vec<_> = ws.iter().map(|w| w.map(|w| w.acc)).collect();
                        let out = chip.assign(ctx, &cells, &rows, bias, &claimed)?;
                        accs.extend(out.into_iter().zip(ws.iter().map(|w| w.map(|w| w.out))));
                    }
                }
                self.rescale(config, ctx, role, &accs, 1 << shift)?
            }
            QOp::AvgPool2d { pool } => {
                let x = arg(0);
                let taps = pool.taps(arg_shape(0)).map_err(|_| Error::Synthesis)?;
                let chip = DotWeightsChip::new(crate::need!(config, dot_weights)?);
                let mut sums = Vec::with_capacity(count);
                for t in &taps {
                    let cells: Vec<Num> = t.iter().map(|&i| x[i]).collect();
                    let total = cells.iter().map(|c| c.value).sum::<Option<i128>>();
                    let acc = chip.assign(ctx, &cells, &vec![1; cells.len()], 0, total)?;
                    sums.push((acc, total.map(|z| divide(z, pool.divisor()))));
                }
                self.rescale(config, ctx, role, &sums, pool.divisor())?
            }
            QOp::MulConst { constant } => {
                // The product and its rescale share one row of the rescale gadget.
                let (ix, ic) = (broadcast_indices(arg_shape(0), &node.shape), broadcast_indices(constant.shape(), &node.shape));
                let items: Vec<(Num, i64, Option<_>)> = ix
                    .iter()
                    .zip(&ic)
                    .map(|(&i, &j)| {
                        let (cell, c) = (arg(0)[i], constant.data()[j]);
                        (cell, c, cell.value.map(|v| linear::dot_rescale([v as i64], [c], 0, shift).out))
                    })
                    .collect();
                match params {
                    Some((p, _)) => {
                        let chip = DotActivationsChip::new(crate::need!(config, dot_activations)?);
                        let mut accs = Vec::with_capacity(count);
                        for ((cell, c, out), &j) in items.iter().zip(&ic) {
                            let product = cell.value.map(|v| v * *c as i128);
                            accs.push((chip.assign(ctx, &[*cell], &[p[j]], product)?, *out));
                        }
                        self.rescale(config, ctx, role, &accs, 1 << shift)?
                    }
                    None => self.rescale_scaled(config, ctx, role, &items, 1 << shift)?,
                }
            }
            QOp::Mul => {
                let pairs = broadcast_pairs(arg(0), arg_shape(0), arg(1), arg_shape(1), &node.shape);
                let items: Vec<_> = pairs.iter().map(|(a, b)| (*a, *b, a.value.zip(b.value).map(|(x, y)| arith::product(x as i64, y as i64, shift)))).collect();
                ProductChip::new(crate::need!(config, product)?).assign(ctx, &items, 1 << shift, self.ranges.activation)?
            }
            QOp::Sub => {
                let pairs = broadcast_pairs(arg(0), arg_shape(0), arg(1), arg_shape(1), &node.shape);
                let diffs: Vec<_> = pairs.iter().map(|(a, b)| a.value.zip(b.value).map(|(x, y)| x - y)).collect();
                AddChip::new(crate::need!(config, add)?).sub(ctx, &pairs, &diffs)?
            }
            QOp::Div => {
                let pairs = broadcast_pairs(arg(0), arg_shape(0), arg(1), arg_shape(1), &node.shape);
                let items: Vec<_> = pairs
                    .iter()
                    .map(|(a, b)| (Numerator::Scaled(*a, 1 << shift), *b, a.value.zip(b.value).and_then(|(x, y)| arith::div(x as i64, y as i64, shift))))
                    .collect();
                DivideChip::new(crate::need!(config, divide)?).assign(ctx, &items, self.ranges.activation, self.ranges.relu)?
            }
            QOp::Reciprocal => {
                let items: Vec<_> = arg(0)
                    .iter()
                    .map(|b| (Numerator::Constant(1i128 << (2 * shift)), *b, b.value.and_then(|y| arith::reciprocal(y as i64, shift))))
                    .collect();
                DivideChip::new(crate::need!(config, divide)?).assign(ctx, &items, self.ranges.activation, self.ranges.relu)?
            }
            QOp::Sqrt => {
                let items: Vec<_> = arg(0).iter().map(|x| (*x, x.value.and_then(|v| arith::sqrt(v as i64, shift)))).collect();
                SqrtChip::new(crate::need!(config, sqrt)?).assign(ctx, &items, 1 << shift, self.ranges.relu)?
            }
            QOp::Reduce { axes, kind } => {
                let x = arg(0);
                let groups = reduce_groups(arg_shape(0), axes).map_err(|_| Error::Synthesis)?;
                match kind {
                    ReduceKind::Max => self.max_chains(config, ctx, x, &groups)?,
                    ReduceKind::Sum | ReduceKind::Mean => {
                        let chip = DotWeightsChip::new(crate::need!(config, dot_weights)?);
                        let mut sums = Vec::with_capacity(count);
                        for g in &groups {
                            let cells: Vec<Num> = g.iter().map(|&i| x[i]).collect();
                            let total = cells.iter().map(|c| c.value).sum::<Option<i128>>();
                            sums.push((chip.assign(ctx, &cells, &vec![1; cells.len()], 0, total)?, total, g.len()));
                        }
                        if *kind == ReduceKind::Sum {
                            for (sum, _, _) in &sums {
                                ctx.check_range(sum, self.ranges.activation)?;
                            }
                            sums.into_iter().map(|(sum, _, _)| sum).collect()
                        } else {
                            let n = groups.first().map_or(1, Vec::len) as i64;
                            let items: Vec<_> = sums.iter().map(|(sum, total, _)| (*sum, total.map(|z| divide(z, n)))).collect();
                            self.rescale(config, ctx, role, &items, n)?
                        }
                    }
                }
            }
            QOp::Pad { pads, value } => {
                let fill = ConstantChip::new(crate::need!(config, constant)?).assign(ctx, *value as i128)?;
                reduce::pad_sources(arg_shape(0), pads).map_err(|_| Error::Synthesis)?.iter().map(|src| src.map_or(fill, |i| arg(0)[i])).collect()
            }
            QOp::Clamp { max } => {
                let items: Vec<_> = arg(0).iter().map(|x| (*x, x.value.map(|v| elementwise::clamp(v as i64, *max)))).collect();
                ClampChip::new(crate::need!(config, clamp)?).assign(ctx, &items, *max, self.ranges.relu)?
            }
        })
    }
}
