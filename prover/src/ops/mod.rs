//! The operators, one file per operator (or per family of operators that share their gadgets).
//!
//! Each file holds everything about its operators: the shape rule, the float reference, the
//! quantization rule, the integer semantics (the ONE definition of what the circuit proves: the
//! quantized forward pass runs it, and its [`Evaluation`] is the circuit's witness), the range
//! facts and tables it needs, whether it fuses with the activation after it, its layout on the
//! gadgets, and its tests. [`operators!`] below is the only list of operators: it makes the float
//! [`Op`] and the integer [`QOp`] from it, one variant each, so nothing else matches over every
//! operator. `docs/adding-an-operator.md` walks through adding one.

mod context;
pub mod layout;

pub mod add;
pub mod clamp;
pub mod conv;
pub mod div;
pub mod embedding;
pub mod function;
pub mod input;
pub mod linear;
pub mod matmul;
pub mod mul;
pub mod pad;
pub mod pool;
pub mod reduce;
pub mod relu;
pub mod shape;
pub mod sqrt;

use halo2_proofs::plonk::Error;
use serde::{Deserialize, Serialize};

use crate::arith::table::LookupTable;
use crate::arith::Activation;
use crate::error::ProverError;
use crate::gadgets::Num;
use crate::range::RangeKind;
use crate::tensor::Tensor;

pub use context::{quantize_value, EvalCx, Evaluation, QuantizeCx, Ranges, Witness};
pub use layout::LayoutCx;

/// What the float and the integer operator share: the name and the shape rule.
pub trait Shaped {
    /// A short name for messages and reports.
    fn name(&self) -> &'static str;

    /// The shape the operator makes of inputs of `inputs` shapes; `declared` is the node's own
    /// shape, read only where the output shape is an attribute (Input, Reshape, Select). Refuses
    /// a wrong arity or shapes that do not fit.
    fn output_shape(&self, inputs: &[&[usize]], declared: &[usize]) -> Result<Vec<usize>, ProverError>;
}

/// A float operator: a node of a [`crate::model::Graph`]. Weights live in the operator, so every
/// input of a node is an activation computed at prove time.
pub trait FloatOp: Shaped {
    /// The float reference value (for import checks and quantization error reports).
    fn eval(&self, args: &[&Tensor<f32>], shape: &[usize]) -> Result<Tensor<f32>, ProverError>;

    /// The integer operator at the scale of `cx`.
    fn quantize(&self, cx: &QuantizeCx<'_>) -> Result<QOp, ProverError>;
}

/// An integer operator: a node of a [`crate::quantize::QuantizedModel`], what the circuit proves.
pub trait IntOp: Shaped {
    /// The integer semantics: the output and the witness the layout assigns. Every value the
    /// layout range-checks is claimed through `cx` first, so an input the circuit cannot prove is
    /// refused here, naming the layer.
    fn eval(&self, args: &[&Tensor<i64>], cx: &EvalCx<'_>) -> Result<Evaluation, ProverError>;

    /// The parameters the operator holds, in the order they are committed (empty for most).
    fn params(&self) -> Vec<i64> {
        vec![]
    }

    /// Ranges the layout checks that do not depend on the activation bound (divisors, clamp
    /// bounds), for inputs of `inputs` shapes.
    fn fixed_ranges(&self, _inputs: &[&[usize]]) -> Vec<RangeKind> {
        vec![]
    }

    /// Lookup tables the layout reads, at scale `2^scale_bits`.
    fn tables(&self, _scale_bits: u32) -> Vec<LookupTable> {
        vec![]
    }

    /// Whether the output is a rescale (so a following activation can share its gadget).
    fn ends_in_rescale(&self) -> bool {
        false
    }

    /// What this operator is when it follows a rescale and fuses into it.
    fn fusable(&self) -> Option<Fusable<'_>> {
        None
    }

    /// Whether the layout can check this node with Freivalds' algorithm (see
    /// [`crate::gadgets::freivalds`]).
    fn freivalds_eligible(&self) -> bool {
        false
    }

    /// Lays the node out: the cells of its output, row-major. `args` are its inputs' cells.
    fn layout(&self, cx: &mut LayoutCx<'_, '_, '_>, args: &[&[Num]]) -> Result<Vec<Num>, Error>;
}

/// An operator that a rescale before it can absorb.
#[derive(Clone, Copy, Debug)]
pub enum Fusable<'a> {
    /// An activation applied to the rescaled value in the same gadget.
    Activation(Activation),
    /// A constant added to the rescaled value (only with parameters fixed in the circuit).
    AddConstant(&'a Tensor<i64>),
}

/// Refuses `inputs` unless there are `n` of them.
pub(crate) fn arity(name: &str, inputs: &[&[usize]], n: usize) -> Result<(), ProverError> {
    if inputs.len() == n {
        Ok(())
    } else {
        Err(ProverError::Shape(format!("{name} takes {n} input(s), got {}", inputs.len())))
    }
}

/// Makes [`Op`] and [`QOp`] from one list: each entry names the operator, its float type and its
/// integer type (often the same type, or one generic type at `f32` and `i64`).
macro_rules! operators {
    ($( $(#[$doc:meta])* $name:ident($float:ty, $int:ty), )*) => {
        /// A float operator; see [`FloatOp`] for what each one defines.
        #[derive(Clone, Debug, Serialize, Deserialize)]
        pub enum Op {
            $( $(#[$doc])* $name($float), )*
        }

        /// An integer operator; see [`IntOp`] for what each one defines.
        #[derive(Clone, Debug, Serialize, Deserialize)]
        pub enum QOp {
            $( $(#[$doc])* $name($int), )*
        }

        impl Op {
            /// The operator's definitions.
            pub fn float(&self) -> &dyn FloatOp {
                match self {
                    $( Op::$name(op) => op, )*
                }
            }
        }

        impl QOp {
            /// The operator's definitions.
            pub fn int(&self) -> &dyn IntOp {
                match self {
                    $( QOp::$name(op) => op, )*
                }
            }
        }
    };
}

operators! {
    /// A model input; its shape is the node's shape.
    Input(input::Input, input::Input),
    /// `y[.., n] = Σ_k x[.., k] · w[k, n] + b[n]`: Gemm, or MatMul with constant weights.
    Linear(linear::Linear, linear::QLinear),
    /// `y[.., m, n] = Σ_k a[.., m, k] · b[.., k, n]` with both operands activations.
    MatMul(matmul::MatMul, matmul::MatMul),
    /// Elementwise sum of two activations (numpy broadcasting), exact.
    Add(add::Add, add::Add),
    /// Elementwise sum with a constant (broadcasting), exact.
    AddConst(add::AddConst<f32>, add::AddConst<i64>),
    /// Elementwise difference of two activations (broadcasting), exact.
    Sub(add::Sub, add::Sub),
    /// `max(x, 0)`.
    Relu(relu::Relu, relu::Relu),
    /// `min(max(x, 0), max)`: ReLU6, Clip with a lower bound of 0.
    Clamp(clamp::Clamp<f32>, clamp::Clamp<i64>),
    /// Elementwise product with a constant (broadcasting), rescaled.
    MulConst(mul::MulConst<f32>, mul::MulConst<i64>),
    /// Elementwise product of two activations (broadcasting), rescaled.
    Mul(mul::Mul, mul::Mul),
    /// Elementwise quotient of two activations (broadcasting); divisors must be positive.
    Div(div::Div, div::Div),
    /// `1 / x` elementwise (`x > 0`).
    Reciprocal(div::Reciprocal, div::Reciprocal),
    /// `√x` elementwise (`x ≥ 0`), floored.
    Sqrt(sqrt::Sqrt, sqrt::Sqrt),
    /// A tabulated function (sigmoid, tanh, exp, erf, GELU's residual).
    Function(function::Tabulated, function::Lookup),
    /// Convolution over NHWC (ONNX's NCHW convolutions are imported between two transposes).
    Conv(conv::Convolution, conv::QConvolution),
    /// Average pooling over NHWC without padding: the window sum divided by its size.
    AvgPool(pool::AvgPool, pool::AvgPool),
    /// Max pooling over NHWC (padded positions ignored).
    MaxPool(pool::MaxPool, pool::MaxPool),
    /// A sum, mean or maximum over axes, which are kept with size 1.
    Reduce(reduce::Reduce, reduce::Reduce),
    /// Constant padding.
    Pad(pad::Pad<f32>, pad::Pad<i64>),
    /// Embedding lookup: an index selects a row of a constant table.
    Embedding(embedding::Embedding<f32>, embedding::Embedding<i64>),
    /// The same values in row-major order under the node's shape (Reshape, Flatten).
    Reshape(shape::Reshape, shape::Reshape),
    /// Axes permuted.
    Transpose(shape::Transpose, shape::Transpose),
    /// Each output value copied from one input value (Concat, Slice, Split, constant Gather).
    Select(shape::Select, shape::Select),
}

impl Op {
    /// A short name for messages and reports.
    pub fn kind(&self) -> &'static str {
        self.float().name()
    }
}

impl QOp {
    /// A short name for messages and reports.
    pub fn kind(&self) -> &'static str {
        self.int().name()
    }

    /// The parameters the operator holds, in commitment order ([`IntOp::params`]).
    pub fn params(&self) -> Vec<i64> {
        self.int().params()
    }
}

/// Every operator type, for importers that build graphs.
pub mod prelude {
    pub use super::add::{Add, AddConst, Sub};
    pub use super::clamp::Clamp;
    pub use super::conv::{Conv, Convolution, QConvolution, Window};
    pub use super::div::{Div, Reciprocal};
    pub use super::embedding::Embedding;
    pub use super::function::{Lookup, Tabulated};
    pub use super::input::Input;
    pub use super::linear::{Linear, QLinear};
    pub use super::matmul::MatMul;
    pub use super::mul::{Mul, MulConst};
    pub use super::pad::Pad;
    pub use super::pool::{AvgPool, MaxPool, Pool};
    pub use super::reduce::{Reduce, ReduceKind};
    pub use super::relu::Relu;
    pub use super::shape::{Reshape, Select, Transpose};
    pub use super::sqrt::Sqrt;
    pub use super::{Op, QOp};
}

#[cfg(test)]
mod tests {
    use super::prelude::*;
    use super::*;
    use crate::arith::table::{Function, FunctionTable};

    const SCALE: u32 = 8;

    fn ranges() -> Ranges {
        Ranges { activation: RangeKind::Signed(16), relu: RangeKind::Interval(0, (1 << 16) - 1) }
    }

    fn tensor(shape: &[usize], data: &[f32]) -> Tensor<f32> {
        Tensor::new(shape.to_vec(), data.to_vec()).unwrap()
    }

    /// Values in [-2, 2) (positive with `positive`), deterministic.
    fn values(shape: &[usize], positive: bool, seed: usize) -> Tensor<f32> {
        let n: usize = shape.iter().product();
        let data = (0..n)
            .map(|i| {
                let v = (((i * 37 + seed * 11) % 64) as f32 - 32.0) / 16.0;
                if positive { v.abs() + 0.25 } else { v }
            })
            .collect::<Vec<_>>();
        tensor(shape, &data)
    }

    /// Quantizes `op`, evaluates it in integers on the quantized `inputs` and returns the largest
    /// distance from the float reference, in floats.
    fn error_against_float(op: Op, inputs: &[Tensor<f32>], declared: &[usize]) -> f64 {
        let shapes: Vec<&[usize]> = inputs.iter().map(|t| t.shape()).collect();
        let shape = op.float().output_shape(&shapes, declared).unwrap();
        let args: Vec<&Tensor<f32>> = inputs.iter().collect();
        let float = op.float().eval(&args, &shape).unwrap();
        let cx = QuantizeCx { scale_bits: SCALE, range_bits: 16, name: "node", shape: &shape };
        let q = op.float().quantize(&cx).unwrap();
        assert_eq!(q.int().output_shape(&shapes, declared).unwrap(), shape, "{}: integer shape", op.kind());
        let ints: Vec<Tensor<i64>> = inputs.iter().map(|t| cx.tensor(t).unwrap()).collect();
        let int_args: Vec<&Tensor<i64>> = ints.iter().collect();
        let eval = EvalCx { name: "node", shape: &shape, scale_bits: SCALE, ranges: ranges(), input: None };
        let out = q.int().eval(&int_args, &eval).unwrap().output;
        out.data().iter().zip(float.data()).map(|(&q, &f)| (q as f64 / (1 << SCALE) as f64 - f as f64).abs()).fold(0.0, f64::max)
    }

    #[test]
    fn every_operator_computes_in_integers_what_it_computes_in_floats() {
        let x = values(&[1, 2, 3, 4], false, 1);
        let y = values(&[1, 2, 3, 4], false, 2);
        let positive = values(&[1, 2, 3, 4], true, 3);
        let channel = values(&[1, 2, 1, 1], false, 4);
        let matrix = values(&[3, 4], false, 5);
        let conv = Conv { window: Window { kernel: [2, 2], stride: [1, 1], padding: [1, 0, 0, 1] }, depthwise: false };
        let pool = Pool { window: Window { kernel: [2, 2], stride: [1, 1], padding: [0; 4] } };
        let step = 1.0 / (1 << SCALE) as f64;
        let cases: Vec<(Op, Vec<Tensor<f32>>, Vec<usize>, f64)> = vec![
            (Op::Add(Add), vec![x.clone(), channel.clone()], vec![], step),
            (Op::Sub(Sub), vec![x.clone(), y.clone()], vec![], step),
            (Op::Mul(Mul), vec![x.clone(), channel.clone()], vec![], 3.0 * step),
            (Op::Div(Div), vec![x.clone(), positive.clone()], vec![], 12.0 * step),
            (Op::Reciprocal(Reciprocal), vec![positive.clone()], vec![], 12.0 * step),
            (Op::Sqrt(Sqrt), vec![positive.clone()], vec![], 2.0 * step),
            (Op::Relu(Relu), vec![x.clone()], vec![], step),
            (Op::Clamp(Clamp { max: 0.75 }), vec![x.clone()], vec![], step),
            (Op::AddConst(AddConst { constant: channel.clone() }), vec![x.clone()], vec![], step),
            (Op::MulConst(MulConst { constant: channel.clone() }), vec![x.clone()], vec![], 3.0 * step),
            (Op::MatMul(MatMul), vec![x.clone(), values(&[4, 2], false, 6)], vec![], 8.0 * step),
            (Op::Linear(Linear { weight: values(&[4, 3], false, 7), bias: Some(vec![0.5, -0.25, 0.0]) }), vec![x.clone()], vec![], 8.0 * step),
            (Op::Conv(Convolution { weight: values(&[3, 2, 2, 4], false, 8), bias: Some(vec![0.1, 0.2, -0.3]), conv }), vec![x.clone()], vec![], 16.0 * step),
            (Op::AvgPool(AvgPool { pool }), vec![x.clone()], vec![], 2.0 * step),
            (Op::MaxPool(MaxPool { pool }), vec![x.clone()], vec![], step),
            (Op::Reduce(Reduce { axes: vec![1, 2], kind: ReduceKind::Sum }), vec![x.clone()], vec![], step),
            (Op::Reduce(Reduce { axes: vec![3], kind: ReduceKind::Mean }), vec![x.clone()], vec![], 2.0 * step),
            (Op::Reduce(Reduce { axes: vec![0, 3], kind: ReduceKind::Max }), vec![x.clone()], vec![], step),
            (Op::Pad(Pad { pads: vec![(0, 0), (1, 0), (0, 2), (1, 1)], value: 0.5 }), vec![x.clone()], vec![], step),
            (Op::Transpose(Transpose { perm: vec![0, 3, 1, 2] }), vec![x.clone()], vec![], step),
            (Op::Reshape(Reshape), vec![x.clone()], vec![4, 6], step),
            (Op::Select(Select { picks: vec![(1, 5), (0, 0), (0, 23)] }), vec![x.clone(), y.clone()], vec![3], step),
            (Op::Function(Tabulated { function: Function::Sigmoid }), vec![x.clone()], vec![], step),
            (Op::Embedding(Embedding { table: matrix }), vec![tensor(&[2], &[2.0, 0.0])], vec![], step),
        ];
        for (op, inputs, declared, tolerance) in cases {
            let kind = op.kind();
            let error = error_against_float(op, &inputs, &declared);
            assert!(error <= tolerance, "{kind}: integer result {error} away from the float one (allowed {tolerance})");
        }
    }

    #[test]
    fn values_the_circuit_cannot_prove_are_refused_naming_the_layer() {
        let t = |data: &[i64]| Tensor::new(vec![data.len()], data.to_vec()).unwrap();
        let eval = |op: QOp, inputs: Vec<Tensor<i64>>, shape: &[usize], input: Option<&Tensor<i64>>| {
            let args: Vec<&Tensor<i64>> = inputs.iter().collect();
            let cx = EvalCx { name: "layer7", shape, scale_bits: SCALE, ranges: ranges(), input };
            op.int().eval(&args, &cx).map(|e| e.output).map_err(|e| e.to_string())
        };
        let sigmoid = FunctionTable { function: Function::Sigmoid, lo: -10, hi: 10, scale_bits: SCALE };
        let too_large = t(&[1 << 15]);
        let refused = [
            ("a zero divisor", eval(QOp::Div(Div), vec![t(&[256, 256]), t(&[256, 0])], &[2], None)),
            ("a negative reciprocal", eval(QOp::Reciprocal(Reciprocal), vec![t(&[-3])], &[1], None)),
            ("a negative square root", eval(QOp::Sqrt(Sqrt), vec![t(&[-1])], &[1], None)),
            ("an input outside the table", eval(QOp::Function(Lookup { table: sigmoid }), vec![t(&[11])], &[1], None)),
            ("an index beyond the embedding", eval(QOp::Embedding(Embedding { table: Tensor::new(vec![2, 1], vec![5, 6]).unwrap() }), vec![t(&[3 << SCALE])], &[1, 1], None)),
            ("a product beyond the activation range", eval(QOp::Mul(Mul), vec![t(&[1 << 14]), t(&[1 << 12])], &[1], None)),
            ("an input beyond the activation range", eval(QOp::Input(Input), vec![], &[1], Some(&too_large))),
        ];
        for (what, result) in refused {
            let message = result.expect_err(what);
            assert!(message.contains("layer7"), "{what}: {message}");
        }
        // The same operators on values they can prove.
        assert_eq!(eval(QOp::Div(Div), vec![t(&[256]), t(&[512])], &[1], None).unwrap().data(), &[128]);
        assert_eq!(eval(QOp::Input(Input), vec![], &[1], Some(&t(&[-5]))).unwrap().data(), &[-5]);
    }
}
