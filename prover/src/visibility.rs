//! Which tensors a verifier sees: the input, the parameters and the output are each `public`,
//! `private`, `hashed` or `salted`, and this decides the proof's public inputs.
//!
//! - **input**: `public` puts the quantized input values in the public inputs; `hashed` puts one
//!   Poseidon commitment per input tensor ([`crate::commitment`]); `private` publishes nothing.
//!   `salted` is `hashed` with a secret salt (one field element the prover supplies, [`Salts`])
//!   absorbed after the values: an unsalted commitment to guessable values (a template, a prompt,
//!   small weights) lets anyone confirm a guess by hashing it; a salted one does not, as long as
//!   the salt stays secret. The same values with the same salt give the same commitment, so a
//!   salt is kept as long as its commitment is used (an enrolled template, a listed prompt).
//! - **params** (the weights, biases and constant tensors of Linear, Conv, AddConst and MulConst
//!   nodes): `public` fixes them in the circuit, so the verifying key commits to them and a proof is
//!   bound to these exact values (anyone holding the model can recompute the key); `hashed` makes
//!   them private witnesses and publishes one Poseidon commitment to all of them, so the verifying
//!   key only depends on the architecture and the verifier checks the commitment; `private` makes
//!   them witnesses and publishes nothing, so the proof only says that *some* parameters of this
//!   architecture give the output. Clip bounds, pooling windows and function tables are part of
//!   the circuit in every mode; so are embedding tables, which is why a model with an embedding
//!   only takes `public` parameters.
//! - **output**: like the input.
//!
//! Inputs and outputs take one visibility for all of them or one per tensor ([`PerTensor`]): a
//! face-matching model can keep the camera image private while committing to the enrolled
//! template it is compared with.
//!
//! - **context word** (`context`, off by default): one more public input that the model does not
//!   read, chosen by the prover for each proof (for example a contract's caller address, or a hash
//!   of the caller and a nonce). Fiat–Shamir binds it: the transcript absorbs every public input
//!   before any challenge is drawn, so a proof made for one word does not verify with another, and
//!   a contract that requires the word to be its caller cannot be served a proof copied from
//!   someone else's transaction.
//!
//! Public inputs come in this order: the input section (input 0, input 1, …), the params
//! commitment, the output section (output 0, …), the context word. Values are integers at the
//! model's scale, row-major, a negative `v` as `p − |v|`.

use std::fmt;
use std::str::FromStr;

use halo2_proofs::halo2curves::bn256::Fr;
use serde::{Deserialize, Serialize};

use crate::error::ProverError;

/// What the verifier learns about one tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// The values are public inputs (for params: fixed in the verifying key).
    Public,
    /// Nothing is published.
    Private,
    /// A Poseidon commitment is a public input; the values stay hidden, unless guessable.
    Hashed,
    /// A Poseidon commitment to the values and a secret salt: hidden even when guessable.
    Salted,
}

impl Visibility {
    /// Whether the tensor is published as a commitment (`hashed` or `salted`).
    pub fn commits(self) -> bool {
        matches!(self, Visibility::Hashed | Visibility::Salted)
    }
}

impl FromStr for Visibility {
    type Err = ProverError;

    fn from_str(s: &str) -> Result<Self, ProverError> {
        match s {
            "public" => Ok(Visibility::Public),
            "private" => Ok(Visibility::Private),
            "hashed" => Ok(Visibility::Hashed),
            "salted" => Ok(Visibility::Salted),
            other => Err(ProverError::Input(format!("visibility `{other}`: choose public, private, hashed or salted"))),
        }
    }
}

impl fmt::Display for Visibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
            Visibility::Hashed => "hashed",
            Visibility::Salted => "salted",
        })
    }
}

/// The visibility of the model's inputs (or of its outputs): one for all of them, or one per
/// tensor in order. Written `hashed` or `private,hashed`; stored in the compiled model as a string
/// or a list, so models compiled with one visibility for all still load.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PerTensor {
    /// The same for every tensor.
    All(Visibility),
    /// Tensor `i` gets entry `i`; [`QuantizedModel::check_visibility`] refuses a list whose length
    /// is not the model's number of tensors.
    Each(Vec<Visibility>),
}

impl PerTensor {
    /// The visibility of tensor `index`. An index past a per-tensor list (which
    /// [`QuantizedModel::check_visibility`] refuses) reads as `Private`, which publishes nothing.
    pub fn of(&self, index: usize) -> Visibility {
        match self {
            PerTensor::All(v) => *v,
            PerTensor::Each(list) => list.get(index).copied().unwrap_or(Visibility::Private),
        }
    }

    /// Whether any tensor has visibility `v`.
    pub fn any(&self, v: Visibility) -> bool {
        self.any_of(|x| x == v)
    }

    /// Whether any tensor's visibility satisfies `f`.
    pub fn any_of(&self, f: impl Fn(Visibility) -> bool) -> bool {
        match self {
            PerTensor::All(all) => f(*all),
            PerTensor::Each(list) => list.iter().any(|&v| f(v)),
        }
    }
}

impl From<Visibility> for PerTensor {
    fn from(v: Visibility) -> Self {
        PerTensor::All(v)
    }
}

impl FromStr for PerTensor {
    type Err = ProverError;

    /// `hashed` (every tensor) or `private,hashed` (tensor by tensor).
    fn from_str(s: &str) -> Result<Self, ProverError> {
        let list = s.split(',').map(|part| part.trim().parse()).collect::<Result<Vec<Visibility>, _>>()?;
        Ok(match list.as_slice() {
            [one] => PerTensor::All(*one),
            _ => PerTensor::Each(list),
        })
    }
}

impl fmt::Display for PerTensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PerTensor::All(v) => write!(f, "{v}"),
            PerTensor::Each(list) => f.write_str(&list.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")),
        }
    }
}

/// The visibility of a model's inputs, parameters and outputs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisibilitySettings {
    /// Of the model inputs.
    pub input: PerTensor,
    /// Of the parameters.
    pub params: Visibility,
    /// Of the model outputs.
    pub output: PerTensor,
    /// Whether proofs carry a context word, the last public input (absent from models compiled
    /// without it, so their hash is unchanged).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub context: bool,
}

impl Default for VisibilitySettings {
    /// A private input, parameters fixed in the verifying key, a public output, no context word.
    fn default() -> Self {
        VisibilitySettings { input: Visibility::Private.into(), params: Visibility::Public, output: Visibility::Public.into(), context: false }
    }
}

impl VisibilitySettings {
    /// Whether the circuit computes any Poseidon commitment.
    pub fn hashes(&self) -> bool {
        self.input.any_of(Visibility::commits) || self.params.commits() || self.output.any_of(Visibility::commits)
    }

    /// Whether the parameters are witnesses (not fixed in the circuit).
    pub fn witnessed_params(&self) -> bool {
        self.params != Visibility::Public
    }
}

/// What a run of public inputs stands for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicTensor {
    /// Model input `index`.
    Input(usize),
    /// All parameters.
    Params,
    /// Model output `index`.
    Output(usize),
    /// The context word: not read by the model, chosen by the prover, bound by Fiat–Shamir.
    Context,
}

impl fmt::Display for PublicTensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublicTensor::Input(i) => write!(f, "input {i}"),
            PublicTensor::Params => f.write_str("params"),
            PublicTensor::Output(i) => write!(f, "output {i}"),
            PublicTensor::Context => f.write_str("context word"),
        }
    }
}

/// One run of consecutive public inputs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicSection {
    /// The tensor it describes.
    pub tensor: PublicTensor,
    /// `true`: one Poseidon commitment; `false`: the tensor's values, row-major.
    pub commitment: bool,
    /// A commitment with a secret salt after the values (`salted`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub salted: bool,
    /// Number of public inputs in the run.
    pub len: usize,
}

impl fmt::Display for PublicSection {
    /// `output 0 (10 values)`, `input 0 (Poseidon commitment)` or `context word`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.commitment {
            write!(f, "{} ({}Poseidon commitment)", self.tensor, if self.salted { "salted " } else { "" })
        } else if self.tensor == PublicTensor::Context {
            write!(f, "{}", self.tensor)
        } else {
            write!(f, "{} ({} values)", self.tensor, self.len)
        }
    }
}

/// The secret salts of a proof's salted commitments, one field element per salted tensor. They
/// never leave the prover: they are not in the proof file, and a verifier needs none (it compares
/// the commitments with the ones it was given).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Salts(Vec<(PublicTensor, Fr)>);

impl Salts {
    /// No salt (a model without salted tensors).
    pub fn none() -> Self {
        Salts::default()
    }

    /// Every tensor given a salt, with its salt.
    pub fn entries(&self) -> &[(PublicTensor, Fr)] {
        &self.0
    }

    /// The salt of `tensor`, if given.
    pub fn of(&self, tensor: &PublicTensor) -> Option<Fr> {
        self.0.iter().find(|(t, _)| t == tensor).map(|(_, s)| *s)
    }

    /// Adds the salt of `tensor`; refuses a second one for the same tensor.
    pub fn insert(&mut self, tensor: PublicTensor, salt: Fr) -> Result<(), ProverError> {
        if self.of(&tensor).is_some() {
            return Err(ProverError::Input(format!("two salts for {tensor}")));
        }
        self.0.push((tensor, salt));
        Ok(())
    }

    /// Parses `TENSOR=HEX` (`input0`, `params`, `output1`, …; the salt a 0x-prefixed field
    /// element, as `zkml salt` prints it) and adds it.
    pub fn insert_spec(&mut self, spec: &str) -> Result<(), ProverError> {
        let bad = |why: &str| ProverError::Input(format!("--salt {spec}: {why}; write TENSOR=0xHEX, e.g. input1=0x2a…"));
        let (name, hex) = spec.split_once('=').ok_or_else(|| bad("no `=`"))?;
        let name = name.trim();
        let tensor = if name == "params" {
            PublicTensor::Params
        } else if let Some(i) = name.strip_prefix("input").and_then(|i| i.parse().ok()) {
            PublicTensor::Input(i)
        } else if let Some(i) = name.strip_prefix("output").and_then(|i| i.parse().ok()) {
            PublicTensor::Output(i)
        } else {
            return Err(bad("the tensor is inputN, params or outputN"));
        };
        let salt = crate::field::fr_from_word_hex(hex.trim()).map_err(|why| bad(&format!("the salt is {why}")))?;
        self.insert(tensor, salt)
    }

    /// A fresh salt from the operating system's randomness: a uniform field element.
    pub fn random_salt() -> Fr {
        use halo2_proofs::halo2curves::ff::Field;
        Fr::random(rand::rngs::OsRng)
    }

    /// How `--salt` names `tensor`.
    pub fn name(tensor: &PublicTensor) -> String {
        match tensor {
            PublicTensor::Input(i) => format!("input{i}"),
            PublicTensor::Params => "params".into(),
            PublicTensor::Output(i) => format!("output{i}"),
            PublicTensor::Context => "context".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_tensor_visibility_parses_prints_and_reads_old_files() {
        let one: PerTensor = "hashed".parse().unwrap();
        assert_eq!(one, PerTensor::All(Visibility::Hashed));
        let each: PerTensor = "private, hashed".parse().unwrap();
        assert_eq!(each, PerTensor::Each(vec![Visibility::Private, Visibility::Hashed]));
        assert_eq!(each.to_string(), "private,hashed");
        assert_eq!((each.of(0), each.of(1), each.of(2)), (Visibility::Private, Visibility::Hashed, Visibility::Private));
        assert!(each.any(Visibility::Hashed) && !each.any(Visibility::Public));
        let err = "private,secret".parse::<PerTensor>().unwrap_err();
        assert!(err.to_string().contains("secret"), "{err}");

        // A model compiled before per-tensor visibility stored one string per kind.
        let old: VisibilitySettings = serde_json::from_str(r#"{"input":"hashed","params":"public","output":"private"}"#).unwrap();
        assert_eq!(old, VisibilitySettings { input: Visibility::Hashed.into(), params: Visibility::Public, output: Visibility::Private.into(), context: false });
        assert_eq!(serde_json::to_string(&old).unwrap(), r#"{"input":"hashed","params":"public","output":"private"}"#, "no context word: stored as before");
        let new = VisibilitySettings { input: each, context: true, ..Default::default() };
        let json = serde_json::to_string(&new).unwrap();
        assert_eq!(serde_json::from_str::<VisibilitySettings>(&json).unwrap(), new, "{json}");
    }
}
