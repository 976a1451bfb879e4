//! Calibration: run the float and the integer model on sample inputs, choose the activation range
//! from the largest value reached, and report how far each layer's quantized values are from
//! the float ones.

use serde::Serialize;

use crate::error::ProverError;
use crate::model::Graph;
use crate::quantize::{QuantizeConfig, QuantizedModel};
use crate::tensor::Tensor;

/// Bits of headroom above the largest calibrated magnitude: inputs up to twice as large as any
/// calibration sample still prove.
pub const HEADROOM_BITS: u32 = 1;

/// Float-versus-quantized error of one layer over the calibration set.
#[derive(Clone, Debug, Serialize)]
pub struct LayerError {
    /// Node name.
    pub node: String,
    /// Operator kind.
    pub op: &'static str,
    /// Largest |float − dequantized| over all samples and elements.
    pub max_abs_error: f64,
    /// Largest |float value| reached.
    pub max_abs_value: f64,
}

/// The outcome of calibration.
#[derive(Clone, Debug, Serialize)]
pub struct Calibration {
    /// Number of samples used.
    pub samples: usize,
    /// Largest magnitude of any integer the circuit checks, over all samples.
    pub max_abs_quantized: i64,
    /// The activation range chosen: `[-2^(b-1), 2^(b-1))`.
    pub range_bits: u32,
    /// Per-layer errors, in graph order.
    pub layers: Vec<LayerError>,
}

/// Runs `samples` through the float graph and its quantization at `scale_bits`, and chooses
/// `range_bits`. The samples follow one another, each one flat list per model input (as in an
/// input file): for a single-input model one list is one sample, for a model of `n` inputs every
/// `n` consecutive lists are one.
pub fn calibrate(graph: &Graph, scale_bits: u32, samples: &[Vec<f32>]) -> Result<Calibration, ProverError> {
    let per_sample = graph.inputs.len().max(1);
    if samples.is_empty() {
        return Err(ProverError::Input("the calibration data holds no sample".into()));
    }
    if samples.len() % per_sample != 0 {
        return Err(ProverError::Input(format!(
            "the calibration data holds {} lists for a model of {per_sample} inputs: each sample is one list per input",
            samples.len()
        )));
    }
    // Measure with the widest range the quantizer allows, then narrow it.
    let wide = QuantizedModel::from_graph(graph, QuantizeConfig { scale_bits, range_bits: 24 })?;
    let samples: Vec<&[Vec<f32>]> = samples.chunks(per_sample).collect();
    let mut max_abs: i64 = 0;
    let mut layers: Vec<LayerError> = graph
        .nodes
        .iter()
        .map(|n| LayerError { node: n.name.clone(), op: n.op.kind(), max_abs_error: 0.0, max_abs_value: 0.0 })
        .collect();
    for (i, sample) in samples.iter().enumerate() {
        let q_inputs = sample
            .iter()
            .enumerate()
            .map(|(j, values)| wide.quantize_input(j, values, &wide.ranges_for(None)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ProverError::Input(format!("calibration sample {i}: {e}")))?;
        let trace = wide.forward(&q_inputs, &wide.ranges_for(None)).map_err(|e| ProverError::Range(format!("calibration sample {i}: {e}")))?;
        let float_inputs = graph
            .inputs
            .iter()
            .zip(sample.iter())
            .map(|(&id, values)| Tensor::new(graph.nodes[id].shape.clone(), values.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let float = graph.forward(&float_inputs)?;
        for ((layer, q), f) in layers.iter_mut().zip(&trace).zip(&float) {
            for (&qv, &fv) in q.data().iter().zip(f.data()) {
                max_abs = max_abs.max(qv.abs());
                layer.max_abs_error = layer.max_abs_error.max((wide.dequantize(qv) - fv as f64).abs());
                layer.max_abs_value = layer.max_abs_value.max((fv as f64).abs());
            }
        }
    }
    // Signed values below 2^(b-1) in magnitude, plus headroom; never below the scale itself.
    let magnitude_bits = 64 - (max_abs as u64).leading_zeros();
    let range_bits = (magnitude_bits + 1 + HEADROOM_BITS).max(scale_bits + 1);
    Ok(Calibration { samples: samples.len(), max_abs_quantized: max_abs, range_bits, layers })
}
