//! From a model file to a [`CompiledModel`]: import, quantize, plan the circuit.

use std::path::Path;

use crate::artifact::{CompiledModel, FORMAT_VERSION};
use crate::calibrate::{calibrate, Calibration};
use crate::circuit::plan;
use crate::error::ProverError;
use crate::import::msgpack::{load_zkml_input, load_zkml_model};
use crate::import::onnx::load_onnx;
use crate::quantize::{QuantizeConfig, QuantizedModel};
use crate::tensor::Tensor;

/// Imports the ONNX model at `path`, quantizes it with `config` and plans its circuit.
pub fn compile_onnx(path: &Path, config: QuantizeConfig) -> Result<CompiledModel, ProverError> {
    compile_graph(path, load_onnx(path)?, config)
}

/// Imports the ONNX model at `path` and calibrates its activation range on `samples` (see
/// [`crate::calibrate`]); `range_bits` overrides the calibrated range when given.
pub fn compile_onnx_calibrated(
    path: &Path,
    scale_bits: u32,
    range_bits: Option<u32>,
    samples: &[Vec<f32>],
) -> Result<(CompiledModel, Calibration), ProverError> {
    let graph = load_onnx(path)?;
    let calibration = calibrate(&graph, scale_bits, samples)?;
    let config = QuantizeConfig { scale_bits, range_bits: range_bits.unwrap_or(calibration.range_bits) };
    Ok((compile_graph(path, graph, config)?, calibration))
}

fn compile_graph(path: &Path, graph: crate::model::Graph, config: QuantizeConfig) -> Result<CompiledModel, ProverError> {
    let quantized = QuantizedModel::from_graph(&graph, config)?;
    let layout = plan(&quantized)?;
    Ok(CompiledModel { format_version: FORMAT_VERSION, source: file_name(path), graph: Some(graph), quantized, layout })
}

/// Imports a ddkang/zkml `model.msgpack` (already quantized) and plans its circuit.
pub fn compile_zkml(path: &Path) -> Result<CompiledModel, ProverError> {
    let quantized = load_zkml_model(path)?;
    let layout = plan(&quantized)?;
    Ok(CompiledModel { format_version: FORMAT_VERSION, source: file_name(path), graph: None, quantized, layout })
}

/// Compiles `path` by its extension: `.msgpack` is zkml's format (its own scale; `config` is not
/// used), anything else is ONNX.
pub fn compile_model(path: &Path, config: QuantizeConfig) -> Result<CompiledModel, ProverError> {
    if is_msgpack(path) {
        compile_zkml(path)
    } else {
        compile_onnx(path, config)
    }
}

/// Reads model inputs for `model` from `path`: zkml's `inp.msgpack`, or `INPUT.json`.
pub fn load_inputs(model: &CompiledModel, path: &Path) -> Result<Vec<Vec<f32>>, ProverError> {
    if is_msgpack(path) {
        load_zkml_input(path, model.quantized.config.scale_bits, model.quantized.inputs.len())
    } else {
        Ok(crate::input::InputFile::load(path)?.input_data)
    }
}

fn is_msgpack(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "msgpack")
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// The reference forward pass on float inputs, quantized and float side by side.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ForwardReport {
    /// Outputs of the integer model, dequantized (what a proof's public inputs say).
    pub outputs: Vec<Vec<f64>>,
    /// The same outputs as integers at the model's scale.
    pub outputs_quantized: Vec<Vec<i64>>,
    /// Outputs of the float model (absent for already-quantized formats).
    pub float_outputs: Option<Vec<Vec<f64>>>,
    /// Largest absolute difference between `outputs` and `float_outputs`.
    pub max_abs_error: Option<f64>,
}

/// Runs the quantized and the float model on `inputs`.
pub fn forward(model: &CompiledModel, inputs: &[Vec<f32>]) -> Result<ForwardReport, ProverError> {
    let q = &model.quantized;
    if inputs.len() != q.inputs.len() {
        return Err(ProverError::Input(format!("the model takes {} input(s), got {}", q.inputs.len(), inputs.len())));
    }
    let quantized_inputs = inputs.iter().enumerate().map(|(i, x)| model.quantize_input(i, x)).collect::<Result<Vec<_>, _>>()?;
    let trace = q.forward(&quantized_inputs, &model.ranges())?;
    let outputs_quantized: Vec<Vec<i64>> = q.outputs_of(&trace).iter().map(|t| t.data().to_vec()).collect();
    let outputs: Vec<Vec<f64>> = outputs_quantized.iter().map(|o| o.iter().map(|&v| q.dequantize(v)).collect()).collect();
    let float_outputs = match &model.graph {
        Some(graph) => {
            let float_inputs = inputs
                .iter()
                .zip(&q.inputs)
                .map(|(x, &id)| Tensor::new(q.nodes[id].shape.clone(), x.clone()))
                .collect::<Result<Vec<_>, _>>()?;
            let float_trace = graph.forward(&float_inputs)?;
            Some(graph.outputs.iter().map(|&o| float_trace[o].data().iter().map(|&v| v as f64).collect::<Vec<f64>>()).collect::<Vec<_>>())
        }
        None => None,
    };
    let max_abs_error = float_outputs.as_ref().map(|f| {
        outputs.iter().flatten().zip(f.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
    });
    Ok(ForwardReport { outputs, outputs_quantized, float_outputs, max_abs_error })
}
