//! The compiled-model directory and the versioned headers of key files.
//!
//! `zkml compile` writes `DIR/model.json` ([`CompiledModel`]): the float graph, its quantization
//! and the circuit layout. Keys (`DIR/vk.bin`, `DIR/pk.bin`) start with a header recording the
//! format version, the [`CompiledModel::hash`] and the SRS fingerprint they were made with; a key
//! read against another model or SRS is refused instead of producing proofs that cannot verify.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use halo2_proofs::halo2curves::bn256::{Bn256, G1Affine};
use halo2_proofs::poly::commitment::ParamsProver;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_proofs::SerdeFormat;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::circuit::CircuitLayout;
use crate::error::ProverError;
use crate::model::Graph;
use crate::quantize::QuantizedModel;

/// Version of every artifact format this crate writes; bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 3;

/// A model ready to set up and prove: what `zkml compile` writes to `DIR/model.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CompiledModel {
    /// Always [`FORMAT_VERSION`] when written by this version.
    pub format_version: u32,
    /// The file the model was imported from (for reports).
    pub source: String,
    /// The float model as imported; `None` for formats that are already quantized (zkml's).
    pub graph: Option<Graph>,
    /// Its integer version: what the circuit proves.
    pub quantized: QuantizedModel,
    /// The circuit shape chosen for it.
    pub layout: CircuitLayout,
}

impl CompiledModel {
    /// Path of the model file in a compiled directory.
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join("model.json")
    }

    /// Writes `DIR/model.json`.
    pub fn save(&self, dir: &Path) -> Result<(), ProverError> {
        fs::create_dir_all(dir).map_err(|e| ProverError::io(dir, e))?;
        let path = Self::path_in(dir);
        let json = serde_json::to_vec(self).map_err(|e| ProverError::Artifact(e.to_string()))?;
        fs::write(&path, json).map_err(|e| ProverError::io(&path, e))
    }

    /// Reads `DIR/model.json`, refusing other format versions.
    pub fn load(dir: &Path) -> Result<Self, ProverError> {
        let path = Self::path_in(dir);
        if !path.exists() {
            return Err(ProverError::Artifact(format!(
                "{} not found: run `zkml compile MODEL.onnx -o {}` first",
                path.display(),
                dir.display()
            )));
        }
        let bytes = fs::read(&path).map_err(|e| ProverError::io(&path, e))?;
        let model: CompiledModel = serde_json::from_slice(&bytes)
            .map_err(|e| ProverError::Artifact(format!("{} is corrupt: {e}", path.display())))?;
        if model.format_version != FORMAT_VERSION {
            return Err(ProverError::Artifact(format!(
                "{} has format version {}, this zkml reads {FORMAT_VERSION}: compile the model again",
                path.display(),
                model.format_version
            )));
        }
        model.quantized_graph_check()?;
        Ok(model)
    }

    fn quantized_graph_check(&self) -> Result<(), ProverError> {
        self.quantized.validate()?;
        if let Some(graph) = &self.graph {
            graph.validate()?;
            if graph.nodes.len() != self.quantized.nodes.len() {
                return Err(ProverError::Artifact("model.json: float and quantized graphs differ".into()));
            }
        }
        crate::circuit::check_layout(&self.quantized, &self.layout).map_err(|e| ProverError::Artifact(format!("model.json: {e}")))
    }

    /// The ranges its circuit checks values against (its plan's activation bound).
    pub fn ranges(&self) -> crate::quantize::Ranges {
        self.quantized.ranges_for(Some(self.layout.activation_bound))
    }

    /// Quantizes input `index` given as a flat row-major list, refusing a value its circuit
    /// cannot prove.
    pub fn quantize_input(&self, index: usize, values: &[f32]) -> Result<crate::tensor::Tensor<i64>, ProverError> {
        self.quantized.quantize_input(index, values, &self.ranges())
    }

    /// The same model with other visibility settings, its circuit planned again for them.
    pub fn with_visibility(mut self, visibility: crate::visibility::VisibilitySettings) -> Result<Self, ProverError> {
        self.quantized.visibility = visibility;
        let layout = crate::circuit::plan(&self.quantized)?;
        self.layout = layout;
        Ok(self)
    }

    /// SHA-256 over the quantized model and layout: everything the circuit depends on.
    pub fn hash(&self) -> [u8; 32] {
        let bytes = serde_json::to_vec(&(&self.quantized, &self.layout)).expect("serializable");
        Sha256::digest(bytes).into()
    }
}

/// SHA-256 identifying an SRS's secret (not its size): over `[τ]G1` and `[τ]G2`.
pub fn srs_fingerprint(params: &ParamsKZG<Bn256>) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut buf = vec![];
    let g1: &G1Affine = &params.get_g()[1];
    halo2_proofs::SerdeCurveAffine::write(g1, &mut buf, SerdeFormat::RawBytes).expect("in memory");
    halo2_proofs::SerdeCurveAffine::write(&params.s_g2(), &mut buf, SerdeFormat::RawBytes).expect("in memory");
    h.update(&buf);
    h.finalize().into()
}

/// The header in front of key files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyHeader {
    /// `b"vk"` or `b"pk"`.
    pub kind: [u8; 2],
    /// [`CompiledModel::hash`] of the model the key is for.
    pub model_hash: [u8; 32],
    /// [`srs_fingerprint`] of the SRS it was made with.
    pub srs: [u8; 32],
    /// Size of that SRS.
    pub k: u32,
}

const KEY_MAGIC: &[u8; 6] = b"ZKMLKY";

impl KeyHeader {
    /// Writes the header.
    pub fn write(&self, w: &mut impl Write) -> std::io::Result<()> {
        w.write_all(KEY_MAGIC)?;
        w.write_all(&self.kind)?;
        w.write_all(&FORMAT_VERSION.to_le_bytes())?;
        w.write_all(&self.model_hash)?;
        w.write_all(&self.srs)?;
        w.write_all(&self.k.to_le_bytes())
    }

    /// Reads a header and checks it is a `kind` key for exactly `expected`'s model and SRS.
    pub fn read_and_check(r: &mut impl Read, path: &Path, expected: &KeyHeader) -> Result<(), ProverError> {
        let bad = |why: String| ProverError::Artifact(format!("{}: {why}", path.display()));
        let mut fixed = [0u8; 6 + 2 + 4 + 32 + 32 + 4];
        r.read_exact(&mut fixed).map_err(|_| bad("too short to be a key file".into()))?;
        if &fixed[..6] != KEY_MAGIC || fixed[6..8] != expected.kind {
            return Err(bad(format!("not a {} file", String::from_utf8_lossy(&expected.kind))));
        }
        let version = u32::from_le_bytes(fixed[8..12].try_into().unwrap());
        if version != FORMAT_VERSION {
            return Err(bad(format!("format version {version}, expected {FORMAT_VERSION}: run `zkml setup` again")));
        }
        if fixed[12..44] != expected.model_hash {
            return Err(bad("made for another model (or another compile of it): run `zkml setup` again".into()));
        }
        if fixed[44..76] != expected.srs || u32::from_le_bytes(fixed[76..80].try_into().unwrap()) != expected.k {
            return Err(bad("made with another SRS than the one found now: run `zkml setup` again".into()));
        }
        Ok(())
    }
}
