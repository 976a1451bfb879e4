//! Proving and verifying keys of a compiled model: made once by `zkml setup`, stored with a
//! header that binds them to the model and the SRS.

use std::fs;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use halo2_proofs::halo2curves::bn256::{Bn256, G1Affine};
use halo2_proofs::plonk::{keygen_pk2, keygen_vk_custom, ProvingKey, VerifyingKey};
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_proofs::SerdeFormat;

use crate::artifact::{srs_fingerprint, CompiledModel, KeyHeader};
use crate::circuit::ModelCircuit;
use crate::error::ProverError;
use crate::srs::{Srs, SrsStore};

/// Path of the verifying key in a compiled directory.
pub fn vk_path(dir: &Path) -> PathBuf {
    dir.join("vk.bin")
}

/// Path of the proving key in a compiled directory.
pub fn pk_path(dir: &Path) -> PathBuf {
    dir.join("pk.bin")
}

fn header(model: &CompiledModel, params: &ParamsKZG<Bn256>, kind: &[u8; 2]) -> KeyHeader {
    KeyHeader { kind: *kind, model_hash: model.hash(), srs: srs_fingerprint(params), k: model.layout.k }
}

/// The SRS a compiled model needs, from the default store.
pub fn model_srs(model: &CompiledModel) -> Result<Srs, ProverError> {
    SrsStore::default_location().params(model.layout.k)
}

/// Generates both keys for `model` over `params` (of size `2^layout.k`).
pub fn generate_keys(model: &CompiledModel, params: &ParamsKZG<Bn256>) -> Result<ProvingKey<G1Affine>, ProverError> {
    let circuit = ModelCircuit::keygen(Arc::new(model.quantized.clone()), model.layout.clone());
    // Compressing selectors merges the many gadget selectors into a few fixed columns; one
    // synthesis makes both keys.
    Ok(keygen_pk2(params, &circuit, true)?)
}

fn write_key(path: &Path, header: &KeyHeader, body: impl FnOnce(&mut BufWriter<fs::File>) -> std::io::Result<()>) -> Result<(), ProverError> {
    crate::atomic_file::write_atomically(path, |w| {
        header.write(w)?;
        body(w)
    })
}

/// Writes `DIR/pk.bin` and `DIR/vk.bin` for `model`.
pub fn save_keys(dir: &Path, model: &CompiledModel, params: &ParamsKZG<Bn256>, pk: &ProvingKey<G1Affine>) -> Result<(), ProverError> {
    write_key(&vk_path(dir), &header(model, params, b"vk"), |w| pk.get_vk().write(w, SerdeFormat::RawBytes))?;
    write_key(&pk_path(dir), &header(model, params, b"pk"), |w| pk.write(w, SerdeFormat::RawBytes))
}

fn open_key(path: &Path, expected: &KeyHeader) -> Result<BufReader<fs::File>, ProverError> {
    if !path.exists() {
        return Err(ProverError::Artifact(format!("{} not found: run `zkml setup` first", path.display())));
    }
    let file = fs::File::open(path).map_err(|e| ProverError::io(path, e))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    KeyHeader::read_and_check(&mut r, path, expected)?;
    Ok(r)
}

/// The verifying key of `model` over `params`, derived from the compiled model itself (keygen is
/// deterministic): the key a verifier can trust without taking a prover's word for it.
pub fn derive_vk(model: &CompiledModel, params: &ParamsKZG<Bn256>) -> Result<VerifyingKey<G1Affine>, ProverError> {
    let circuit = ModelCircuit::keygen(Arc::new(model.quantized.clone()), model.layout.clone());
    // Selectors compressed, as `generate_keys` makes them.
    Ok(keygen_vk_custom(params, &circuit, true)?)
}

/// Reads `DIR/vk.bin`, checking it belongs to `model` and `params`, and that it is the key
/// [`derive_vk`] derives from them. The header alone is a label anybody can copy: a key with other
/// fixed columns (other weights) or gates switched off would make other proofs verify, so the key
/// is compared with the one the compiled model defines, and a key file that differs is refused.
pub fn load_vk(dir: &Path, model: &CompiledModel, params: &ParamsKZG<Bn256>) -> Result<VerifyingKey<G1Affine>, ProverError> {
    let path = vk_path(dir);
    let mut r = open_key(&path, &header(model, params, b"vk"))?;
    let vk = VerifyingKey::read::<_, ModelCircuit>(&mut r, SerdeFormat::RawBytes, model.layout.shape)
        .map_err(|e| ProverError::Artifact(format!("{} is corrupt ({e}): run `zkml setup` again", path.display())))?;
    if vk.to_bytes(SerdeFormat::RawBytes) != derive_vk(model, params)?.to_bytes(SerdeFormat::RawBytes) {
        return Err(ProverError::Artifact(format!(
            "{} is not the verifying key of the compiled model over this SRS (its gates or fixed columns differ): it is not trusted; run `zkml setup --force` to make the keys again",
            path.display()
        )));
    }
    Ok(vk)
}

/// Reads `DIR/pk.bin`, checking it belongs to `model` and `params`.
pub fn load_pk(dir: &Path, model: &CompiledModel, params: &ParamsKZG<Bn256>) -> Result<ProvingKey<G1Affine>, ProverError> {
    let path = pk_path(dir);
    let mut r = open_key(&path, &header(model, params, b"pk"))?;
    ProvingKey::read::<_, ModelCircuit>(&mut r, SerdeFormat::RawBytes, model.layout.shape)
        .map_err(|e| ProverError::Artifact(format!("{} is corrupt ({e}): run `zkml setup` again", path.display())))
}
