//! Shape operators: Concat, Slice, Split, Gather, Squeeze/Unsqueeze; they only choose which values the next node reads.

use super::*;

impl Importer {
    /// Integer values of a constant input or attribute (axes, starts, split sizes...).
    pub(super) fn ints_of(&self, node: &pb::NodeProto, input: usize, attr_name: &str) -> Result<Option<Vec<i64>>, ProverError> {
        if let Some(name) = node.input.get(input).filter(|s| !s.is_empty()) {
            return match self.value(name)? {
                Value::Const(c) => Ok(Some(c.data.iter().map(|&v| v as i64).collect())),
                Value::Node(_) => Err(ProverError::Unsupported(format!("{} with computed {attr_name}", node.op_type))),
            };
        }
        Ok(attr_ints(node, attr_name))
    }

    /// Defines output `out` of `node` as values picked from `operands` by `pick`, which maps an
    /// output coordinate to `(operand, input coordinate)`.
    pub(super) fn select(&mut self, node: &pb::NodeProto, out: usize, operands: Vec<usize>, shape: Vec<usize>, pick: impl Fn(&[usize]) -> (usize, Vec<usize>)) -> Result<(), ProverError> {
        let total: usize = shape.iter().product();
        let out_strides = crate::tensor::strides(&shape);
        let mut picks = Vec::with_capacity(total);
        let mut coords = vec![0; shape.len()];
        for flat in 0..total {
            for (axis, c) in coords.iter_mut().enumerate() {
                *c = flat / out_strides[axis] % shape[axis];
            }
            let (operand, at) = pick(&coords);
            let in_strides = crate::tensor::strides(&self.nodes[operands[operand]].shape);
            picks.push((operand, at.iter().zip(&in_strides).map(|(c, s)| c * s).sum()));
        }
        let name = node.output.get(out).ok_or_else(|| ProverError::Model("missing output".into()))?.clone();
        let id = self.push(name.clone(), Op::Select(Select { picks }), operands, shape);
        self.values.insert(name, Value::Node(id));
        Ok(())
    }

    pub(super) fn axis(axis: i64, rank: usize) -> Result<usize, ProverError> {
        let a = if axis < 0 { axis + rank as i64 } else { axis };
        usize::try_from(a).ok().filter(|&a| a < rank).ok_or_else(|| ProverError::Shape(format!("axis {axis} for rank {rank}")))
    }

    pub(super) fn concat(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let operands = node.input.iter().map(|n| self.activation(n)).collect::<Result<Vec<_>, _>>()?;
        let first = self.nodes[*operands.first().ok_or_else(|| ProverError::Model("Concat without inputs".into()))?].shape.clone();
        let axis = Self::axis(attr_int(node, "axis", 0), first.len())?;
        let sizes: Vec<usize> = operands.iter().map(|&o| self.nodes[o].shape.get(axis).copied().unwrap_or(0)).collect();
        for &o in &operands {
            let s = &self.nodes[o].shape;
            if s.len() != first.len() || s.iter().zip(&first).enumerate().any(|(i, (a, b))| i != axis && a != b) {
                return Err(ProverError::Shape(format!("Concat of {first:?} and {s:?} along axis {axis}")));
            }
        }
        let mut shape = first;
        shape[axis] = sizes.iter().sum();
        self.select(node, 0, operands, shape, |c| {
            let (mut operand, mut at) = (0, c[axis]);
            while at >= sizes[operand] {
                at -= sizes[operand];
                operand += 1;
            }
            let mut coords = c.to_vec();
            coords[axis] = at;
            (operand, coords)
        })
    }

    pub(super) fn slice(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let x = self.activation(self.input(node, 0)?)?;
        let input = self.nodes[x].shape.clone();
        let rank = input.len();
        let starts = self.ints_of(node, 1, "starts")?.ok_or_else(|| ProverError::Model("Slice without starts".into()))?;
        let ends = self.ints_of(node, 2, "ends")?.ok_or_else(|| ProverError::Model("Slice without ends".into()))?;
        let axes = self.ints_of(node, 3, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = self.ints_of(node, 4, "steps")?.unwrap_or_else(|| vec![1; starts.len()]);
        let (mut begin, mut step, mut shape) = (vec![0usize; rank], vec![1usize; rank], input.clone());
        for (((&st, &en), &ax), &sp) in starts.iter().zip(&ends).zip(&axes).zip(&steps) {
            let a = Self::axis(ax, rank)?;
            if sp < 1 {
                return Err(ProverError::Unsupported("Slice with a step below 1".into()));
            }
            let dim = input[a] as i64;
            let clampi = |v: i64| (if v < 0 { v + dim } else { v }).clamp(0, dim);
            let (b, e) = (clampi(st), clampi(en));
            begin[a] = b as usize;
            step[a] = sp as usize;
            shape[a] = if e > b { ((e - b) as usize).div_ceil(sp as usize) } else { 0 };
        }
        self.select(node, 0, vec![x], shape, |c| (0, c.iter().enumerate().map(|(a, &v)| begin[a] + v * step[a]).collect()))
    }

    pub(super) fn split(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let x = self.activation(self.input(node, 0)?)?;
        let input = self.nodes[x].shape.clone();
        let axis = Self::axis(attr_int(node, "axis", 0), input.len())?;
        let parts = node.output.len();
        let sizes: Vec<usize> = match self.ints_of(node, 1, "split")? {
            Some(s) => s.iter().map(|&v| v as usize).collect(),
            None if parts > 0 && input[axis] % parts == 0 => vec![input[axis] / parts; parts],
            // From opset 18 (`num_outputs`), an uneven split makes the last part smaller.
            None if parts > 1 && attr(node, "num_outputs").is_some() && input[axis].div_ceil(parts) * (parts - 1) < input[axis] => {
                let chunk = input[axis].div_ceil(parts);
                let mut sizes = vec![chunk; parts - 1];
                sizes.push(input[axis] - chunk * (parts - 1));
                sizes
            }
            None => return Err(ProverError::Shape(format!("cannot split {} into {parts} parts", input[axis]))),
        };
        if sizes.len() != parts || sizes.iter().sum::<usize>() != input[axis] {
            return Err(ProverError::Shape(format!("split sizes {sizes:?} for dimension {}", input[axis])));
        }
        let mut start = 0;
        for (out, &size) in sizes.iter().enumerate() {
            let mut shape = input.clone();
            shape[axis] = size;
            let offset = start;
            self.select(node, out, vec![x], shape, |c| {
                let mut coords = c.to_vec();
                coords[axis] += offset;
                (0, coords)
            })?;
            start += size;
        }
        Ok(())
    }

    pub(super) fn gather(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        if let (Value::Const(table), Value::Node(indices)) = (self.value(self.input(node, 0)?)?.clone(), self.value(self.input(node, 1)?)?.clone()) {
            if attr_int(node, "axis", 0) != 0 {
                return Err(ProverError::Unsupported("Gather of a constant by computed indices along an axis other than 0".into()));
            }
            return self.define(node, Op::Embedding(Embedding { table: table.to_f32()? }), vec![indices]);
        }
        let x = self.activation(self.input(node, 0)?)?;
        let input = self.nodes[x].shape.clone();
        let axis = Self::axis(attr_int(node, "axis", 0), input.len())?;
        let indices = match self.value(self.input(node, 1)?)? {
            Value::Const(c) => c.clone(),
            Value::Node(_) => return Err(ProverError::Unsupported("Gather with computed indices".into())),
        };
        let dim = input[axis] as i64;
        let idx: Vec<usize> = indices
            .data
            .iter()
            .map(|&v| {
                let i = if v < 0.0 { v as i64 + dim } else { v as i64 };
                usize::try_from(i).ok().filter(|&i| (i as i64) < dim).ok_or_else(|| ProverError::Shape(format!("Gather index {v} for dimension {dim}")))
            })
            .collect::<Result<_, _>>()?;
        let k = indices.shape.len();
        let shape: Vec<usize> = input[..axis].iter().chain(&indices.shape).chain(&input[axis + 1..]).copied().collect();
        let index_strides = crate::tensor::strides(&indices.shape);
        self.select(node, 0, vec![x], shape, |c| {
            let flat: usize = c[axis..axis + k].iter().zip(&index_strides).map(|(a, b)| a * b).sum();
            let coords: Vec<usize> = c[..axis].iter().copied().chain([idx[flat]]).chain(c[axis + k..].iter().copied()).collect();
            (0, coords)
        })
    }

    pub(super) fn squeeze(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let x = self.activation(self.input(node, 0)?)?;
        let input = self.nodes[x].shape.clone();
        let axes = self.ints_of(node, 1, "axes")?;
        let target: Vec<usize> = if node.op_type == "Squeeze" {
            let drop: Vec<usize> = match axes {
                Some(a) => a.iter().map(|&v| Self::axis(v, input.len())).collect::<Result<_, _>>()?,
                None => (0..input.len()).filter(|&i| input[i] == 1).collect(),
            };
            if drop.iter().any(|&a| input[a] != 1) {
                return Err(ProverError::Shape(format!("Squeeze of a non-unit axis of {input:?}")));
            }
            input.iter().enumerate().filter(|(i, _)| !drop.contains(i)).map(|(_, &d)| d).collect()
        } else {
            let axes = axes.ok_or_else(|| ProverError::Model("Unsqueeze without axes".into()))?;
            let rank = input.len() + axes.len();
            let add: Vec<usize> = axes.iter().map(|&v| Self::axis(v, rank)).collect::<Result<_, _>>()?;
            let mut rest = input.iter();
            (0..rank).map(|i| if add.contains(&i) { 1 } else { *rest.next().unwrap_or(&1) }).collect()
        };
        self.define_shaped(node, Op::Reshape(Reshape), vec![x], target)
    }
}
