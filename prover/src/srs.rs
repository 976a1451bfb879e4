//! Structured reference strings (KZG parameters over BN254): made, stored, found and shrunk.
//!
//! A KZG SRS is the list `[τ^i]·G1` for `i < 2^k` (plus its Lagrange form and `[τ]·G2`). Whoever
//! knows `τ` can forge proofs, so a production SRS must come from a ceremony. Until one is imported,
//! [`SrsStore::params`] makes a **development SRS** from a fixed, public seed: every machine gets the
//! same bytes (so keys and verifiers made anywhere agree), and anybody can forge proofs against it.
//! [`SrsSource::is_insecure`] says which kind a file is, and the CLI prints it.
//!
//! Files are `<dir>/kzg_bn254_<k>.srs`: a small header ([`SRS_MAGIC`], the source) followed by
//! halo2's raw parameter bytes. A size that is missing is derived from a larger file with the same
//! `τ` (`downsize`), or, for the development source only, generated directly.

use std::fs;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use halo2_proofs::arithmetic::parallelize;
use halo2_proofs::halo2curves::bn256::{Bn256, Fr, G1Affine, G2Affine, G1};
use halo2_proofs::halo2curves::ff::{BatchInvert, Field, PrimeField};
use halo2_proofs::halo2curves::group::prime::PrimeCurveAffine;
use halo2_proofs::halo2curves::group::Curve;
use halo2_proofs::poly::commitment::Params;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2_proofs::SerdeFormat;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::error::ProverError;

/// First bytes of every SRS file this crate writes.
pub const SRS_MAGIC: &[u8; 8] = b"ZKMLSRS1";
/// Largest `k` the crate will generate or load (2^26 points is 8 GiB on disk).
pub const MAX_K: u32 = 26;
/// The public seed of the development SRS. Public on purpose: it makes the SRS reproducible, and
/// it is exactly why that SRS is insecure.
const DEV_SEED: [u8; 32] = *b"zkml insecure development srs v1";

/// Where an SRS came from; recorded in its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SrsSource {
    /// Generated from the public [`DEV_SEED`]: anybody can forge proofs. For development only.
    Development,
    /// Imported from a ceremony transcript; the string names the file it came from.
    Ceremony(String),
}

impl SrsSource {
    /// True when the toxic waste of this SRS is public knowledge.
    pub fn is_insecure(&self) -> bool {
        matches!(self, SrsSource::Development)
    }

    fn encode(&self) -> String {
        match self {
            SrsSource::Development => "dev".to_string(),
            SrsSource::Ceremony(name) => format!("ceremony:{name}"),
        }
    }

    fn decode(s: &str) -> Option<Self> {
        if s == "dev" {
            Some(SrsSource::Development)
        } else {
            s.strip_prefix("ceremony:").map(|n| SrsSource::Ceremony(n.to_string()))
        }
    }
}

impl std::fmt::Display for SrsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SrsSource::Development => write!(
                f,
                "INSECURE development SRS (public seed: anybody can forge proofs; import a ceremony SRS for production)"
            ),
            SrsSource::Ceremony(name) => write!(f, "ceremony SRS imported from {name}"),
        }
    }
}

/// An SRS together with its provenance.
pub struct Srs {
    /// The KZG parameters, of size exactly `2^k`.
    pub params: ParamsKZG<Bn256>,
    /// Where `params` came from.
    pub source: SrsSource,
}

/// A directory of SRS files, one per `k`.
pub struct SrsStore {
    dir: PathBuf,
}

impl SrsStore {
    /// The store in `ZKML_SRS_DIR` if set, else `~/.zkml/srs`.
    pub fn default_location() -> Self {
        let dir = std::env::var_os("ZKML_SRS_DIR").map(PathBuf::from).unwrap_or_else(|| {
            let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
            home.join(".zkml").join("srs")
        });
        SrsStore { dir }
    }

    /// A store rooted at `dir` (created on first write).
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        SrsStore { dir: dir.into() }
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds the SRS of size `2^k`.
    pub fn path_for(&self, k: u32) -> PathBuf {
        self.dir.join(format!("kzg_bn254_{k}.srs"))
    }

    /// Returns the SRS of size exactly `2^k`: read from its file, else derived from the smallest
    /// larger file (same `τ`), else generated from the development seed. Derived and generated
    /// SRSs are written back so the next call only reads.
    ///
    /// A store that holds a ceremony SRS never gets a development one: a size above the
    /// ceremony's is an error naming the import that would provide it, not a silent switch to an
    /// SRS anybody can forge against. Within one store every size thus shares one `τ`, which is
    /// what aggregation needs (inner and outer proofs over the same SRS).
    pub fn params(&self, k: u32) -> Result<Srs, ProverError> {
        if k == 0 || k > MAX_K {
            return Err(ProverError::Srs(format!("k = {k} is outside 1..={MAX_K}")));
        }
        let path = self.path_for(k);
        if path.exists() {
            return read_srs(&path);
        }
        let larger = (k + 1..=MAX_K).map(|bigger| self.path_for(bigger)).find(|p| p.exists());
        if larger.is_none() {
            for (smaller, file) in self.files() {
                if let SrsSource::Ceremony(name) = source_of(&file)? {
                    return Err(ProverError::Srs(format!(
                        "{} holds a ceremony SRS ({name}) up to k = {smaller}, and k = {k} is needed; import a larger one (zkml srs import FILE.ptau --k {k} --force) rather than mixing in the insecure development SRS",
                        self.dir.display()
                    )));
                }
            }
        }
        let srs = match larger {
            // A development SRS has a known τ: generating the smaller size gives the same points
            // as downsizing the larger, in seconds instead of minutes of FFT over G1 (k = 19 on 2
            // cores), and without reading the larger file.
            Some(bigger) if source_of(&bigger)? != SrsSource::Development => {
                let Srs { mut params, source } = read_srs(&bigger)?;
                params.downsize(k);
                Srs { params, source }
            }
            Some(_) | None => Srs { params: generate_dev_params(k), source: SrsSource::Development },
        };
        self.save(&srs)?;
        Ok(srs)
    }

    /// The SRS files in the store, by size.
    pub fn files(&self) -> Vec<(u32, PathBuf)> {
        (1..=MAX_K).map(|k| (k, self.path_for(k))).filter(|(_, p)| p.exists()).collect()
    }

    /// Makes the `.ptau` file at `path` (snarkjs / Perpetual Powers of Tau) the store's SRS at size
    /// `2^k`; smaller sizes are derived from it. Every other SRS file in the store is removed, so
    /// all sizes share the ceremony's `τ`; when there are any, `replace` must be set (the CLI's
    /// `--force`), since keys made over them stop matching. Returns the file written.
    pub fn import_ptau(&self, path: &Path, k: u32, replace: bool) -> Result<PathBuf, ProverError> {
        if k == 0 || k > MAX_K {
            return Err(ProverError::Srs(format!("k = {k} is outside 1..={MAX_K}")));
        }
        let existing = self.files();
        if !existing.is_empty() && !replace {
            return Err(ProverError::Srs(format!(
                "{} already holds {} SRS file(s); importing replaces them all (keys made over them stop matching): pass --force",
                self.dir.display(),
                existing.len()
            )));
        }
        let powers = crate::ptau::read_ptau(path, k)?;
        let digest = {
            use sha2::Digest;
            let mut hasher = sha2::Sha256::new();
            let mut file = fs::File::open(path).map_err(|e| ProverError::io(path, e))?;
            std::io::copy(&mut file, &mut hasher).map_err(|e| ProverError::io(path, e))?;
            hex::encode(&hasher.finalize()[..8])
        };
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let srs = Srs { params: crate::ptau::params_from_powers(powers), source: SrsSource::Ceremony(format!("{name} (sha256 {digest}…)")) };
        for (_, old) in existing {
            fs::remove_file(&old).map_err(|e| ProverError::io(&old, e))?;
        }
        self.save(&srs)
    }

    /// Writes `srs` to its file, atomically (a temporary file renamed into place).
    pub fn save(&self, srs: &Srs) -> Result<PathBuf, ProverError> {
        fs::create_dir_all(&self.dir).map_err(|e| ProverError::io(&self.dir, e))?;
        let path = self.path_for(srs.params.k());
        write_srs(&path, srs)?;
        Ok(path)
    }
}

fn write_srs(path: &Path, srs: &Srs) -> Result<(), ProverError> {
    let source = srs.source.encode();
    crate::atomic_file::write_atomically(path, |w| {
        w.write_all(SRS_MAGIC)?;
        w.write_all(&(source.len() as u32).to_le_bytes())?;
        w.write_all(source.as_bytes())?;
        srs.params.write_custom(w, SerdeFormat::RawBytes)
    })
}

fn invalid_srs(path: &Path, why: &str) -> ProverError {
    ProverError::Srs(format!("{} is not a valid SRS file ({why}); delete it and it will be made again", path.display()))
}

/// Where the SRS in file `path` came from (its header only).
fn source_of(path: &Path) -> Result<SrsSource, ProverError> {
    let mut file = fs::File::open(path).map_err(|e| ProverError::io(path, e))?;
    Ok(read_source(&mut file, path)?.0)
}

/// Reads the header of the SRS file `path` from `r`: where the SRS came from, and the header's
/// length in bytes.
fn read_source(r: &mut impl Read, path: &Path) -> Result<(SrsSource, usize), ProverError> {
    let bad = |why: &str| invalid_srs(path, why);
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic).map_err(|_| bad("too short"))?;
    if &magic != SRS_MAGIC {
        return Err(bad("wrong magic bytes"));
    }
    let mut len = [0u8; 4];
    r.read_exact(&mut len).map_err(|_| bad("truncated header"))?;
    let len = u32::from_le_bytes(len) as usize;
    if len > 4096 {
        return Err(bad("header too long"));
    }
    let mut source = vec![0u8; len];
    r.read_exact(&mut source).map_err(|_| bad("truncated header"))?;
    let source = String::from_utf8(source).ok().and_then(|s| SrsSource::decode(&s)).ok_or_else(|| bad("unknown source"))?;
    Ok((source, len))
}

/// Reads an SRS file written by [`SrsStore::save`]. Points are checked to lie on the curve.
pub fn read_srs(path: &Path) -> Result<Srs, ProverError> {
    let bad = |why: &str| invalid_srs(path, why);
    let file = fs::File::open(path).map_err(|e| ProverError::io(path, e))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let (source, len) = read_source(&mut r, path)?;
    let mut k_bytes = [0u8; 4];
    {
        // Peek k before letting halo2 allocate 2^k points.
        let buf = r.fill_buf_peek(4).map_err(|_| bad("truncated"))?;
        k_bytes.copy_from_slice(&buf[..4]);
    }
    let k = u32::from_le_bytes(k_bytes);
    if k == 0 || k > MAX_K {
        return Err(bad("k out of range"));
    }
    let expected = 8 + 4 + len as u64 + 4 + (2u64 << k) * 64 + 2 * 128;
    let actual = fs::metadata(path).map_err(|e| ProverError::io(path, e))?.len();
    if actual != expected {
        return Err(bad(&format!("size {actual} bytes, expected {expected}")));
    }
    let params = ParamsKZG::<Bn256>::read_custom(&mut r, SerdeFormat::RawBytes)
        .map_err(|e| bad(&e.to_string()))?;
    Ok(Srs { params, source })
}

trait PeekExt {
    fn fill_buf_peek(&mut self, n: usize) -> std::io::Result<&[u8]>;
}

impl<R: Read> PeekExt for BufReader<R> {
    fn fill_buf_peek(&mut self, n: usize) -> std::io::Result<&[u8]> {
        use std::io::BufRead;
        let buf = self.fill_buf()?;
        if buf.len() < n {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(buf)
    }
}

/// The development SRS of size `2^k`: `τ` drawn from [`DEV_SEED`]. Same bytes on every machine.
pub fn generate_dev_params(k: u32) -> ParamsKZG<Bn256> {
    let tau = Fr::random(ChaCha20Rng::from_seed(DEV_SEED));
    params_from_tau(k, tau)
}

/// KZG parameters for a known `τ`, computed with a fixed-base window table (each point costs 32
/// mixed additions instead of a full scalar multiplication, and the Lagrange basis is computed
/// from its scalars `L_i(τ)` rather than by an FFT over G1). Byte-identical to
/// `ParamsKZG::setup` for the same `τ`.
pub fn params_from_tau(k: u32, tau: Fr) -> ParamsKZG<Bn256> {
    let n = 1usize << k;
    let table = FixedBaseTable::new(G1Affine::generator());

    // Monomial basis scalars τ^i.
    let mut powers = vec![Fr::ONE; n];
    parallelize(&mut powers, |chunk, start| {
        let mut cur = tau.pow_vartime([start as u64]);
        for p in chunk.iter_mut() {
            *p = cur;
            cur *= tau;
        }
    });
    let g = table.mul_many(&powers);

    // Lagrange basis scalars L_i(τ) = (τ^n - 1)/n · ω^i / (τ - ω^i).
    let mut omega = Fr::ROOT_OF_UNITY;
    for _ in k..Fr::S {
        omega = omega.square();
    }
    let multiplier = (tau.pow_vartime([n as u64]) - Fr::ONE) * Fr::from(n as u64).invert().unwrap();
    let mut omega_pows = vec![Fr::ONE; n];
    parallelize(&mut omega_pows, |chunk, start| {
        let mut cur = omega.pow_vartime([start as u64]);
        for p in chunk.iter_mut() {
            *p = cur;
            cur *= omega;
        }
    });
    let mut denominators: Vec<Fr> = omega_pows.iter().map(|w| tau - w).collect();
    denominators.iter_mut().batch_invert();
    let lagrange_scalars: Vec<Fr> = omega_pows
        .iter()
        .zip(&denominators)
        .map(|(w, d_inv)| multiplier * w * d_inv)
        .collect();
    drop(powers);
    let g_lagrange = table.mul_many(&lagrange_scalars);

    let g2 = G2Affine::generator();
    let s_g2: G2Affine = (g2 * tau).into();
    // `from_parts` is a method only for type reasons; a k = 1 instance is cheap.
    let shell = ParamsKZG::<Bn256>::setup(1, ChaCha20Rng::from_seed([0u8; 32]));
    shell.from_parts(k, g, Some(g_lagrange), g2, s_g2)
}

/// Multiples `d · 256^j · B` for every byte position `j` and byte value `d` of a base point `B`.
struct FixedBaseTable {
    windows: Vec<Vec<G1Affine>>,
}

impl FixedBaseTable {
    fn new(base: G1Affine) -> Self {
        let mut windows = Vec::with_capacity(32);
        let mut window_base: G1 = base.into();
        for _ in 0..32 {
            let mut row = vec![G1::identity(); 256];
            for d in 1..256 {
                row[d] = row[d - 1] + window_base;
            }
            let mut affine = vec![G1Affine::identity(); 256];
            G1::batch_normalize(&row, &mut affine);
            windows.push(affine);
            for _ in 0..8 {
                window_base = window_base.double();
            }
        }
        FixedBaseTable { windows }
    }

    fn mul_many(&self, scalars: &[Fr]) -> Vec<G1Affine> {
        let mut out = vec![G1Affine::identity(); scalars.len()];
        parallelize(&mut out, |chunk, start| {
            let projective: Vec<G1> = scalars[start..start + chunk.len()]
                .iter()
                .map(|s| {
                    let bytes = s.to_repr();
                    let mut acc = G1::identity();
                    for (j, byte) in bytes.as_ref().iter().enumerate() {
                        if *byte != 0 {
                            acc += self.windows[j][*byte as usize];
                        }
                    }
                    acc
                })
                .collect();
            G1::batch_normalize(&projective, chunk);
        });
        out
    }
}

use halo2_proofs::halo2curves::group::Group;

#[cfg(test)]
mod tests {
    use super::*;
    use halo2_proofs::poly::commitment::ParamsProver;

    #[test]
    fn fast_generator_matches_stock_setup() {
        // Stock setup draws τ as `Fr::random(rng)`, so the same rng gives the same τ.
        let k = 5;
        let stock = ParamsKZG::<Bn256>::setup(k, ChaCha20Rng::from_seed(DEV_SEED));
        let fast = generate_dev_params(k);
        let (mut a, mut b) = (vec![], vec![]);
        stock.write_custom(&mut a, SerdeFormat::RawBytes).unwrap();
        fast.write_custom(&mut b, SerdeFormat::RawBytes).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn a_smaller_development_srs_equals_the_larger_one_downsized() {
        let dir = std::env::temp_dir().join(format!("zkml-srs-dev-test-{}", std::process::id()));
        let store = SrsStore::at(&dir);
        let mut big = store.params(7).unwrap().params;
        let small = store.params(5).unwrap();
        assert_eq!(small.source, SrsSource::Development);
        big.downsize(5);
        let (mut a, mut b) = (vec![], vec![]);
        big.write_custom(&mut a, SerdeFormat::RawBytes).unwrap();
        small.params.write_custom(&mut b, SerdeFormat::RawBytes).unwrap();
        assert_eq!(a, b);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn store_derives_smaller_sizes_with_the_same_tau() {
        let dir = std::env::temp_dir().join(format!("zkml-srs-test-{}", std::process::id()));
        let store = SrsStore::at(&dir);
        let big = store.params(6).unwrap();
        let mut big_params = big.params;
        fs::remove_file(store.path_for(6)).unwrap();
        store.save(&Srs { params: big_params.clone(), source: SrsSource::Ceremony("test".into()) }).unwrap();
        let small = store.params(4).unwrap();
        assert_eq!(small.source, SrsSource::Ceremony("test".into()));
        big_params.downsize(4);
        assert_eq!(small.params.s_g2(), big_params.s_g2());
        assert_eq!(small.params.get_g()[..16], big_params.get_g()[..16]);
        // Above the ceremony's size there is no development fallback: an error saying what to import.
        let Err(ProverError::Srs(why)) = store.params(7) else { panic!("a development SRS was mixed into a ceremony store") };
        assert!(why.contains("zkml srs import") && why.contains("k = 7"), "{why}");
        assert!(!store.path_for(7).exists());
        // A corrupted file is an error, not a panic.
        fs::write(store.path_for(4), b"ZKMLSRS1garbage").unwrap();
        assert!(store.params(4).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
