//! Convolutions and pooling (NCHW in ONNX, NHWC here), and BatchNormalization folded into the Conv before it.

use super::*;

impl Importer {
    /// Wraps an NHWC operator between NCHW→NHWC and NHWC→NCHW transposes (free in the circuit:
    /// they only reorder cells).
    pub(super) fn nhwc(&mut self, node: &pb::NodeProto, x: usize, op: Op) -> Result<(), ProverError> {
        let inner = self.push_nhwc(node, x)?;
        let shape = op.float().output_shape(&[&self.nodes[inner].shape], &[])?;
        let computed = self.push(format!("{}/{}", output_name(node), op.kind()), op, vec![inner], shape);
        self.define(node, Op::Transpose(Transpose { perm: vec![0, 3, 1, 2] }), vec![computed])
    }

    /// The NCHW activation `x` transposed to NHWC, as a new node.
    fn push_nhwc(&mut self, node: &pb::NodeProto, x: usize) -> Result<usize, ProverError> {
        let to_nhwc = Op::Transpose(Transpose { perm: vec![0, 2, 3, 1] });
        let shape = to_nhwc.float().output_shape(&[&self.nodes[x].shape], &[])?;
        Ok(self.push(format!("{}/nhwc", output_name(node)), to_nhwc, vec![x], shape))
    }

    /// The window of a Conv or pooling node over an `[N, C, H, W]` input.
    pub(super) fn window(&self, node: &pb::NodeProto, input: &[usize], kernel: [usize; 2]) -> Result<Window, ProverError> {
        let two = |name: &str, default: usize| -> Result<[usize; 2], ProverError> {
            match attr_ints(node, name) {
                None => Ok([default; 2]),
                Some(v) if v.len() == 2 && v.iter().all(|&x| x >= 1) => Ok([v[0] as usize, v[1] as usize]),
                Some(v) => Err(ProverError::Unsupported(format!("{name} = {v:?} (2-D only)"))),
            }
        };
        if two("dilations", 1)? != [1, 1] {
            return Err(ProverError::Unsupported("dilated windows".into()));
        }
        let stride = two("strides", 1)?;
        let auto_pad = attr(node, "auto_pad").map(|a| String::from_utf8_lossy(&a.s).into_owned()).unwrap_or_default();
        let padding = match auto_pad.as_str() {
            "" | "NOTSET" => match attr_ints(node, "pads") {
                None => [0; 4],
                Some(p) if p.len() == 4 && p.iter().all(|&x| x >= 0) => [p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize],
                Some(p) => return Err(ProverError::Unsupported(format!("pads = {p:?}"))),
            },
            "VALID" => [0; 4],
            "SAME_UPPER" | "SAME_LOWER" => {
                let total = |i: usize| ((input[2 + i].div_ceil(stride[i]) - 1) * stride[i] + kernel[i]).saturating_sub(input[2 + i]);
                let (th, tw) = (total(0), total(1));
                if auto_pad == "SAME_UPPER" {
                    [th / 2, tw / 2, th - th / 2, tw - tw / 2]
                } else {
                    [th - th / 2, tw - tw / 2, th / 2, tw / 2]
                }
            }
            other => return Err(ProverError::Unsupported(format!("auto_pad = {other}"))),
        };
        Ok(Window { kernel, stride, padding })
    }

    pub(super) fn conv(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let x = self.activation(self.input(node, 0)?)?;
        let input = self.nodes[x].shape.clone();
        let w = match self.value(self.input(node, 1)?)? {
            Value::Const(c) => c.clone(),
            Value::Node(w) => return self.conv_by_activations(node, x, *w),
        };
        if input.len() != 4 || w.shape.len() != 4 {
            return Err(ProverError::Unsupported(format!("Conv of {input:?} by {:?} (2-D convolutions only)", w.shape)));
        }
        let (o, ci, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]);
        let channels = input[1];
        let group = attr_int(node, "group", 1).max(1) as usize;
        let bias: Option<Vec<f32>> = match node.input.get(2).filter(|s| !s.is_empty()) {
            Some(b) => match self.value(b)? {
                Value::Const(c) if c.data.len() == o => Some(c.data.iter().map(|&v| v as f32).collect()),
                _ => return Err(ProverError::Unsupported("Conv bias that is not a constant of length C_out".into())),
            },
            None => None,
        };
        let window = self.window(node, &input, [kh, kw])?;
        // ONNX weights are [O, C/group, KH, KW]; ours are [O, KH, KW, C] or, depthwise, [1, KH, KW, O].
        if group == 1 && ci == channels {
            let weight = nhwc_weights(&w, 0, o)?;
            return self.nhwc(node, x, Op::Conv(Convolution { weight, bias, conv: Conv { window, depthwise: false } }));
        }
        if group == channels && ci == 1 && o % channels == 0 {
            let mut data = vec![0.0; w.data.len()];
            for (oo, (_, (y, z))) in grid4(o, 1, kh, kw) {
                data[(y * kw + z) * o + oo] = w.data[(oo * kh + y) * kw + z];
            }
            let weight = Tensor::new(vec![1, kh, kw, o], data.iter().map(|&v| v as f32).collect())?;
            return self.nhwc(node, x, Op::Conv(Convolution { weight, bias, conv: Conv { window, depthwise: true } }));
        }
        if group > 1 && channels % group == 0 && ci * group == channels && o % group == 0 {
            return self.grouped_conv(node, x, &w, group, bias, window);
        }
        Err(ProverError::Unsupported(format!("Conv with group = {group} of {channels} channels by weights {:?}", w.shape)))
    }

    /// A convolution whose weights are computed (an activation `[O, C, KH, KW]`), for one image
    /// and one group: the input is zero-padded, its windows picked into the rows of a patch
    /// matrix `[OH·OW, C·KH·KW]` (free: values only move), multiplied by the weights laid out as
    /// `[C·KH·KW, O]` (a MatMul of two activations), and the product moved back to
    /// `[1, O, OH, OW]`; a bias, constant or computed, is added per output channel.
    fn conv_by_activations(&mut self, node: &pb::NodeProto, x: usize, w: usize) -> Result<(), ProverError> {
        let (input, weights) = (self.nodes[x].shape.clone(), self.nodes[w].shape.clone());
        if input.len() != 4 || weights.len() != 4 || input[0] != 1 || attr_int(node, "group", 1) != 1 || weights[1] != input[1] {
            return Err(ProverError::Unsupported(format!(
                "Conv of {input:?} by computed weights {weights:?} (one image, one group, 2-D only)"
            )));
        }
        let (o, c, kh, kw) = (weights[0], weights[1], weights[2], weights[3]);
        let window = self.window(node, &input, [kh, kw])?;
        let [oh, ow] = window.output_hw(input[2], input[3])?;
        let [top, left, bottom, right] = window.padding;
        let padded = if window.padding == [0; 4] {
            x
        } else {
            self.push_op(node, "padded", Op::Pad(Pad { pads: vec![(0, 0), (0, 0), (top, bottom), (left, right)], value: 0.0 }), x)?
        };
        let (ph, pw) = (input[2] + top + bottom, input[3] + left + right);
        let [sh, sw] = window.stride;
        let picks = (0..oh * ow)
            .flat_map(|p| grid4(1, c, kh, kw).map(move |(_, (ch, (y, z)))| (0, (ch * ph + (p / ow) * sh + y) * pw + (p % ow) * sw + z)))
            .collect();
        let label = output_name(node);
        let patches = self.push(format!("{label}/patches"), Op::Select(Select { picks }), vec![padded], vec![oh * ow, c * kh * kw]);
        let rows = self.push(format!("{label}/weight_rows"), Op::Reshape(Reshape), vec![w], vec![o, c * kh * kw]);
        let columns = self.push_op(node, "weight_columns", Op::Transpose(Transpose { perm: vec![1, 0] }), rows)?;
        let product = self.push_binary(node, "product", Op::MatMul(MatMul), patches, columns)?;
        let channels_first = self.push_op(node, "channels_first", Op::Transpose(Transpose { perm: vec![1, 0] }), product)?;
        let mut y = self.push(format!("{label}/image"), Op::Reshape(Reshape), vec![channels_first], vec![1, o, oh, ow]);
        if let Some(b) = node.input.get(2).filter(|s| !s.is_empty()) {
            y = match self.value(b)?.clone() {
                Value::Const(bias) if bias.data.len() == o => {
                    let constant = Tensor::new(vec![o, 1, 1], bias.data.iter().map(|&v| v as f32).collect())?;
                    self.push_op(node, "biased", Op::AddConst(AddConst { constant }), y)?
                }
                Value::Node(bias) if self.nodes[bias].shape.iter().product::<usize>() == o => {
                    let per_channel = self.push(format!("{label}/bias_per_channel"), Op::Reshape(Reshape), vec![bias], vec![o, 1, 1]);
                    self.push_binary(node, "biased", Op::Add(Add), y, per_channel)?
                }
                _ => return Err(ProverError::Unsupported(format!("Conv bias that is not of length {o}"))),
            };
        }
        self.name_result(node, y)
    }

    /// A grouped convolution: each group of `C/group` input channels convolved by its own
    /// `O/group` filters, as one plain convolution per group over the group's channels (picked
    /// from the NHWC input, free in the circuit) and the outputs concatenated (picked again).
    fn grouped_conv(&mut self, node: &pb::NodeProto, x: usize, w: &Const, group: usize, bias: Option<Vec<f32>>, window: Window) -> Result<(), ProverError> {
        let label = output_name(node);
        let (o, ci) = (w.shape[0], w.shape[1]);
        let per_group = o / group;
        let inner = self.push_nhwc(node, x)?;
        let shape = self.nodes[inner].shape.clone();
        let (positions, channels) = (shape[0] * shape[1] * shape[2], shape[3]);
        let mut outs = Vec::with_capacity(group);
        for g in 0..group {
            let picks = (0..positions).flat_map(|p| (0..ci).map(move |k| (0, p * channels + g * ci + k))).collect();
            let slice_shape = vec![shape[0], shape[1], shape[2], ci];
            let slice = self.push(format!("{label}/group{g}/channels"), Op::Select(Select { picks }), vec![inner], slice_shape);
            let weight = nhwc_weights(w, g * per_group, per_group)?;
            let bias = bias.as_ref().map(|b| b[g * per_group..(g + 1) * per_group].to_vec());
            let op = Op::Conv(Convolution { weight, bias, conv: Conv { window, depthwise: false } });
            let out_shape = op.float().output_shape(&[&self.nodes[slice].shape], &[])?;
            outs.push(self.push(format!("{label}/group{g}/Conv"), op, vec![slice], out_shape));
        }
        let out = self.nodes[outs[0]].shape.clone();
        let positions = out[0] * out[1] * out[2];
        let picks = (0..positions).flat_map(|p| (0..o).map(move |c| (c / per_group, p * per_group + c % per_group))).collect();
        let concat = self.push(format!("{label}/groups"), Op::Select(Select { picks }), outs, vec![out[0], out[1], out[2], o]);
        self.define(node, Op::Transpose(Transpose { perm: vec![0, 3, 1, 2] }), vec![concat])
    }

    /// BatchNormalization (inference): `y = scale·x + shift` per channel, folded into the
    /// preceding convolution when nothing else reads it, else a product and a sum with constants.
    pub(super) fn batch_norm(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let x = self.activation(self.input(node, 0)?)?;
        let params: Vec<Const> = (1..5)
            .map(|i| match self.value(self.input(node, i)?)? {
                Value::Const(c) => Ok(c.clone()),
                Value::Node(_) => Err(ProverError::Unsupported("BatchNormalization with computed parameters".into())),
            })
            .collect::<Result<_, _>>()?;
        let eps = attr_float(node, "epsilon", 1e-5) as f64;
        let channels = *self.nodes[x].shape.get(1).ok_or_else(|| ProverError::Shape("BatchNormalization of a rank-1 tensor".into()))?;
        if params.iter().any(|p| p.data.len() != channels) {
            return Err(ProverError::Shape(format!("BatchNormalization parameters for {channels} channels")));
        }
        let (gamma, beta, mean, var) = (&params[0].data, &params[1].data, &params[2].data, &params[3].data);
        let scale: Vec<f64> = (0..channels).map(|c| gamma[c] / (var[c] + eps).sqrt()).collect();
        let shift: Vec<f64> = (0..channels).map(|c| beta[c] - mean[c] * scale[c]).collect();
        // Fold into Transpose(Conv(..)) written by `conv`, when the convolution has no other reader.
        let input_name = self.input(node, 0)?.to_string();
        if self.uses.get(&input_name).copied() == Some(1) {
            if let Op::Transpose(Transpose { perm }) = &self.nodes[x].op {
                let conv_id = self.nodes[x].inputs[0];
                if perm == &vec![0, 3, 1, 2] && conv_id + 1 == x {
                    if let Op::Conv(Convolution { weight, bias, conv }) = &mut self.nodes[conv_id].op {
                        let out_c = *weight.shape().last().unwrap_or(&0);
                        let per_out = |i: usize| if conv.depthwise { i % out_c } else { i / (weight.len() / out_c.max(1)) };
                        if out_c == channels {
                            let w: Vec<f32> = weight.data().iter().enumerate().map(|(i, &v)| (v as f64 * scale[per_out(i)]) as f32).collect();
                            *weight = Tensor::new(weight.shape().to_vec(), w)?;
                            let b: Vec<f32> = (0..channels).map(|c| (bias.as_ref().map_or(0.0, |b| b[c] as f64) * scale[c] + shift[c]) as f32).collect();
                            *bias = Some(b);
                            let out = node.output.first().ok_or_else(|| ProverError::Model("a node without output".into()))?;
                            self.values.insert(out.clone(), Value::Node(x));
                            return Ok(());
                        }
                    }
                }
            }
        }
        let rank = self.nodes[x].shape.len();
        let per_channel = |v: &[f64]| Tensor::new([channels].into_iter().chain(std::iter::repeat_n(1, rank - 2)).collect(), v.iter().map(|&f| f as f32).collect());
        let scaled = self.push_op(node, "scale", Op::MulConst(MulConst { constant: per_channel(&scale)? }), x)?;
        self.define(node, Op::AddConst(AddConst { constant: per_channel(&shift)? }), vec![scaled])
    }

    /// AveragePool, GlobalAveragePool, MaxPool and GlobalMaxPool over an NCHW input.
    pub(super) fn pool(&mut self, node: &pb::NodeProto) -> Result<(), ProverError> {
        let x = self.activation(self.input(node, 0)?)?;
        let input = self.nodes[x].shape.clone();
        if input.len() != 4 || node.output.len() > 1 {
            return Err(ProverError::Unsupported(format!("pooling of {input:?} (2-D, one output)")));
        }
        let window = if node.op_type.starts_with("Global") {
            Window { kernel: [input[2], input[3]], stride: [1, 1], padding: [0; 4] }
        } else {
            let kernel = match attr_ints(node, "kernel_shape") {
                Some(k) if k.len() == 2 && k.iter().all(|&v| v >= 1) => [k[0] as usize, k[1] as usize],
                other => return Err(ProverError::Unsupported(format!("kernel_shape = {other:?}"))),
            };
            if attr_int(node, "ceil_mode", 0) != 0 || attr_int(node, "storage_order", 0) != 0 {
                return Err(ProverError::Unsupported("ceil_mode or storage_order = 1".into()));
            }
            self.window(node, &input, kernel)?
        };
        let pool = Pool { window };
        if node.op_type.ends_with("MaxPool") {
            // Padded positions are ignored by a maximum.
            return self.nhwc(node, x, Op::MaxPool(MaxPool { pool }));
        }
        if window.padding != [0; 4] && attr_int(node, "count_include_pad", 0) == 0 {
            return Err(ProverError::Unsupported("padded average pooling that excludes the padding from the count".into()));
        }
        self.nhwc(node, x, Op::AvgPool(AvgPool { pool }))
    }
}

/// Filters `first..first + count` of ONNX weights `[O, C, KH, KW]` as ours, `[count, KH, KW, C]`.
fn nhwc_weights(w: &Const, first: usize, count: usize) -> Result<Tensor<f32>, ProverError> {
    let (ci, kh, kw) = (w.shape[1], w.shape[2], w.shape[3]);
    let mut data = vec![0.0f32; count * ci * kh * kw];
    for (oo, (i, (y, z))) in grid4(count, ci, kh, kw) {
        data[((oo * kh + y) * kw + z) * ci + i] = w.data[(((first + oo) * ci + i) * kh + y) * kw + z] as f32;
    }
    Tensor::new(vec![count, kh, kw, ci], data)
}
