//! Importers: each reads one model format into the prover's own representation, and nothing
//! downstream knows which format a model came from. ONNX ([`onnx`], via tract) becomes a float
//! [`crate::model::Graph`]; ddkang/zkml's msgpack ([`msgpack`], already quantized) becomes a
//! [`crate::quantize::QuantizedModel`] directly.

pub mod msgpack;
pub mod onnx;
