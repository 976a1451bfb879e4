//! What a quantized model publishes: its parameters in commitment order, the runs of public
//! inputs its visibility settings give ([`PublicSection`]), and their values for one run. The
//! settings themselves are plain types in [`crate::visibility`].

use halo2_proofs::halo2curves::bn256::Fr;

use crate::commitment::commit_ints_salted;
use crate::error::ProverError;
use crate::field::fe;
use crate::tensor::Tensor;
use crate::visibility::{PerTensor, PublicSection, PublicTensor, Salts, Visibility};

use super::{QOp, QuantizedModel};

impl QuantizedModel {
    /// Every parameter of the model, node after node (what a `hashed` params commitment covers).
    pub fn params(&self) -> Vec<i64> {
        self.nodes.iter().flat_map(|n| n.op.params()).collect()
    }

    /// The runs of public inputs, in order.
    pub fn public_sections(&self) -> Vec<PublicSection> {
        let v = &self.visibility;
        let size = |id: usize| self.nodes[id].shape.iter().product::<usize>();
        let mut sections = vec![];
        let mut tensor_section = |tensor: PublicTensor, vis: Visibility, len: usize| match vis {
            Visibility::Public => sections.push(PublicSection { tensor, commitment: false, salted: false, len }),
            Visibility::Hashed | Visibility::Salted => {
                sections.push(PublicSection { tensor, commitment: true, salted: vis == Visibility::Salted, len: 1 })
            }
            Visibility::Private => {}
        };
        for (i, &id) in self.inputs.iter().enumerate() {
            tensor_section(PublicTensor::Input(i), v.input.of(i), size(id));
        }
        if v.params.commits() {
            tensor_section(PublicTensor::Params, v.params, 1);
        }
        for (i, &id) in self.outputs.iter().enumerate() {
            tensor_section(PublicTensor::Output(i), v.output.of(i), size(id));
        }
        if v.context {
            sections.push(PublicSection { tensor: PublicTensor::Context, commitment: false, salted: false, len: 1 });
        }
        sections
    }

    /// Number of public inputs.
    pub fn public_input_count(&self) -> usize {
        self.public_sections().iter().map(|s| s.len).sum()
    }

    /// The public inputs of a run on `inputs` whose forward pass gave `outputs` (the model's
    /// outputs, in order), up to the context word (the prover appends that one: the model does
    /// not compute it). `salts` must hold a salt for every salted tensor and no other.
    pub fn public_inputs(&self, inputs: &[Tensor<i64>], outputs: &[&Tensor<i64>], salts: &Salts) -> Result<Vec<Fr>, ProverError> {
        self.check_salts(salts)?;
        let mut out = vec![];
        for section in self.public_sections() {
            let values: Vec<i64> = match section.tensor {
                PublicTensor::Input(i) => inputs[i].data().to_vec(),
                PublicTensor::Params => self.params(),
                PublicTensor::Output(i) => outputs[i].data().to_vec(),
                PublicTensor::Context => continue,
            };
            if section.commitment {
                out.push(commit_ints_salted(&values, salts.of(&section.tensor)));
            } else {
                out.extend(values.iter().map(|&v| fe(v as i128)));
            }
        }
        Ok(out)
    }

    /// A salt of zero for every salted tensor: for a proof whose public values do not matter (one
    /// that only lays an aggregation out). Never for a commitment anybody keeps.
    pub fn placeholder_salts(&self) -> Salts {
        let mut salts = Salts::none();
        for section in self.public_sections().into_iter().filter(|s| s.salted) {
            // Each salted tensor has one section: the insert cannot find a second salt.
            let _ = salts.insert(section.tensor, Fr::zero());
        }
        salts
    }

    /// Refuses `salts` unless they name exactly the salted tensors.
    pub fn check_salts(&self, salts: &Salts) -> Result<(), ProverError> {
        let salted: Vec<PublicTensor> = self.public_sections().into_iter().filter(|s| s.salted).map(|s| s.tensor).collect();
        if let Some(missing) = salted.iter().find(|t| salts.of(t).is_none()) {
            return Err(ProverError::Input(format!(
                "{missing} is salted: give its salt (--salt {}=HEX, the one its commitment was made with; `zkml salt` makes a new one)",
                Salts::name(missing)
            )));
        }
        if let Some((extra, _)) = salts.entries().iter().find(|(t, _)| !salted.contains(t)) {
            return Err(ProverError::Input(format!("a salt for {extra}, which the model does not salt (compile it with `salted` visibility)")));
        }
        Ok(())
    }

    /// Refuses settings the model cannot have: hashing parameters of a model without any, a
    /// per-tensor list for another number of inputs or outputs.
    pub fn check_visibility(&self) -> Result<(), ProverError> {
        for (flag, per_tensor, count) in [("--input-visibility", &self.visibility.input, self.inputs.len()), ("--output-visibility", &self.visibility.output, self.outputs.len())] {
            if let PerTensor::Each(list) = per_tensor {
                if list.len() != count {
                    return Err(ProverError::Input(format!(
                        "{flag} {per_tensor}: {} visibilities for {count} tensor(s); give one per tensor, or one for all",
                        list.len()
                    )));
                }
            }
        }
        if self.visibility.witnessed_params() && self.nodes.iter().any(|n| matches!(n.op, QOp::Embedding(_))) {
            return Err(ProverError::Unsupported(format!(
                "--param-visibility {}: embedding tables are lookup tables fixed in the circuit; use public",
                self.visibility.params
            )));
        }
        if self.visibility.witnessed_params() && self.params().is_empty() {
            return Err(ProverError::Input(format!(
                "--param-visibility {}: the model has no parameters; use public",
                self.visibility.params
            )));
        }
        Ok(())
    }
}
