//! Import of a Powers of Tau file (`.ptau`, the format of snarkjs and of the Perpetual Powers of
//! Tau ceremony) into the prover's KZG parameters.
//!
//! The file is `"ptau"`, a version (u32), a section count (u32), then sections of
//! `(type: u32, size: u64, data)`, all little-endian. Section 1 (header) holds the base field size
//! in bytes `n8`, the field modulus `q`, and `power`; section 2 the points `[τ^i]·G1` for
//! `i < 2^(power+1) − 1`; section 3 the points `[τ^i]·G2` for `i < 2^power`. Coordinates are
//! little-endian in Montgomery form (`x·2^256 mod q`); G2 coordinates are `c0` then `c1`.
//!
//! The import takes `[τ^i]·G1` for `i < 2^k`, `[1]·G2` and `[τ]·G2`, checks every point is on its
//! curve, that the first ones are the generators, and that every G1 point is `τ` times the one
//! before for the `τ` of `[τ]·G2` (one pairing equation over a random combination of all of them),
//! and builds halo2's parameters (the Lagrange basis by an FFT over G1).

use std::io::Read;
use std::path::Path;

use halo2_proofs::arithmetic::best_multiexp;
use halo2_proofs::halo2curves::bn256::{Bn256, Fq, Fq2, Fr, G1Affine, G2Affine};
use halo2_proofs::halo2curves::ff::{Field, PrimeField};
use halo2_proofs::halo2curves::pairing::Engine;
use halo2_proofs::halo2curves::CurveAffine;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::error::ProverError;

/// The points of a `.ptau` file the prover needs.
#[derive(Clone, Debug)]
pub struct PowersOfTau {
    /// The file's `power`: it holds `2^power` powers in G2 and about twice as many in G1.
    pub power: u32,
    /// `[τ^i]·G1` for `i < 2^k` (the `k` asked for).
    pub tau_g1: Vec<G1Affine>,
    /// `[τ]·G2`.
    pub tau_g2: G2Affine,
}

fn bad(path: &Path, why: impl std::fmt::Display) -> ProverError {
    ProverError::Srs(format!("{} is not a usable .ptau file: {why}", path.display()))
}

/// The BN254 base field modulus, little-endian, as the header must state it.
fn modulus_le() -> Vec<u8> {
    // q − 1 is the largest element; its canonical little-endian bytes plus one give q.
    let mut bytes = (-Fq::ONE).to_repr().as_ref().to_vec();
    for b in bytes.iter_mut() {
        let (v, carry) = b.overflowing_add(1);
        *b = v;
        if !carry {
            break;
        }
    }
    bytes
}

/// A base field element from 32 little-endian Montgomery-form bytes; `None` if not below `q`.
fn fq_from_montgomery(bytes: &[u8], r_inv: &Fq) -> Option<Fq> {
    let mut repr = <Fq as PrimeField>::Repr::default();
    repr.as_mut().copy_from_slice(bytes);
    Option::<Fq>::from(Fq::from_repr(repr)).map(|m| m * r_inv)
}

/// Reads the header and the first `2^k` G1 powers and the first two G2 powers of `path`.
pub fn read_ptau(path: &Path, k: u32) -> Result<PowersOfTau, ProverError> {
    let file = std::fs::File::open(path).map_err(|e| ProverError::io(path, e))?;
    let mut r = std::io::BufReader::with_capacity(1 << 20, file);
    // Reads `n` bytes, or (`keep = false`) skips them without holding them in memory: sections
    // the import does not need can be gigabytes, and a damaged size field must not allocate.
    let mut take = |n: u64, keep: bool| -> Result<Vec<u8>, ProverError> {
        let mut buf = Vec::new();
        let got = if keep {
            (&mut r).take(n).read_to_end(&mut buf)
        } else {
            std::io::copy(&mut (&mut r).take(n), &mut std::io::sink()).map(|c| c as usize)
        }
        .map_err(|e| bad(path, format!("unreadable ({e})")))?;
        if got as u64 != n {
            return Err(bad(path, "truncated"));
        }
        Ok(buf)
    };
    let u32_at = |b: &[u8]| u32::from_le_bytes(b[..4].try_into().expect("4 bytes"));
    if take(4, true)? != b"ptau" {
        return Err(bad(path, "it does not start with \"ptau\""));
    }
    let _version = u32_at(&take(4, true)?);
    let sections = u32_at(&take(4, true)?);
    // R^-1 for Montgomery form with R = 2^256.
    let r_inv = Fq::from(2).pow_vartime([256]).invert().expect("2 is invertible");
    let (mut power, mut tau_g1, mut g2_points) = (None, None, None);
    for _ in 0..sections {
        let kind = u32_at(&take(4, true)?);
        let size = u64::from_le_bytes(take(8, true)?.try_into().expect("8 bytes"));
        match kind {
            1 => {
                let n8 = u32_at(&take(4, true)?) as usize;
                if n8 != 32 || take(n8 as u64, true)? != modulus_le() {
                    return Err(bad(path, "its curve is not BN254 (bn128)"));
                }
                let p = u32_at(&take(4, true)?);
                if p > 28 {
                    return Err(bad(path, format!("power {p}: BN254's FFT domain allows at most 28")));
                }
                let rest = size.checked_sub(4 + 32 + 4).ok_or_else(|| bad(path, "short header"))?;
                take(rest, false)?;
                if k > p {
                    return Err(ProverError::Srs(format!(
                        "{} holds 2^{p} powers of tau; k = {k} needs a file of power {k} or more",
                        path.display()
                    )));
                }
                power = Some(p);
            }
            2 | 3 if power.is_none() => return Err(bad(path, "the header is not the first section")),
            2 => {
                let p = power.expect("checked");
                let expected = ((1u64 << (p + 1)) - 1) * 64;
                if size != expected {
                    return Err(bad(path, format!("section 2 has {size} bytes, expected {expected}")));
                }
                let wanted = 1usize << k;
                let mut points = Vec::with_capacity(wanted);
                for i in 0..wanted {
                    let b = take(64, true)?;
                    let xy = fq_from_montgomery(&b[..32], &r_inv).zip(fq_from_montgomery(&b[32..], &r_inv));
                    let point = xy.and_then(|(x, y)| Option::<G1Affine>::from(G1Affine::from_xy(x, y)));
                    points.push(point.ok_or_else(|| bad(path, format!("G1 power {i} is not a point of the curve")))?);
                }
                take(size - 64 * wanted as u64, false)?;
                tau_g1 = Some(points);
            }
            3 => {
                let mut points = Vec::with_capacity(2);
                for i in 0..2 {
                    let b = take(128, true)?;
                    let fq = |o: usize| fq_from_montgomery(&b[o..o + 32], &r_inv);
                    let coords = (|| Some((Fq2 { c0: fq(0)?, c1: fq(32)? }, Fq2 { c0: fq(64)?, c1: fq(96)? })))();
                    let point = coords.and_then(|(x, y)| Option::<G2Affine>::from(G2Affine::from_xy(x, y)));
                    points.push(point.ok_or_else(|| bad(path, format!("G2 power {i} is not a point of the curve")))?);
                }
                take(size.checked_sub(256).ok_or_else(|| bad(path, "short G2 section"))?, false)?;
                g2_points = Some(points);
            }
            _ => {
                take(size, false)?;
            }
        }
        if tau_g1.is_some() && g2_points.is_some() {
            break;
        }
    }
    let (power, tau_g1, g2) = match (power, tau_g1, g2_points) {
        (Some(p), Some(g1), Some(g2)) => (p, g1, g2),
        _ => return Err(bad(path, "it lacks the header or the G1/G2 powers")),
    };
    if tau_g1[0] != G1Affine::generator() || g2[0] != G2Affine::generator() {
        return Err(bad(path, "its first powers are not the curve generators"));
    }
    // Every G1 point is τ times the one before, with the τ of [τ]G2: for random r_i,
    // e(Σ r_i·[τ^(i+1)]G1, G2) = e(Σ r_i·[τ^i]G1, [τ]G2).
    if tau_g1.len() > 1 {
        let n = tau_g1.len() - 1;
        let mut rng = ChaCha20Rng::from_entropy();
        let r: Vec<Fr> = (0..n).map(|_| Fr::random(&mut rng)).collect();
        let shifted: G1Affine = best_multiexp(&r, &tau_g1[1..]).into();
        let unshifted: G1Affine = best_multiexp(&r, &tau_g1[..n]).into();
        if Bn256::pairing(&shifted, &g2[0]) != Bn256::pairing(&unshifted, &g2[1]) {
            return Err(bad(path, "its powers are not successive powers of one τ"));
        }
    }
    Ok(PowersOfTau { power, tau_g1, tau_g2: g2[1] })
}

/// halo2 KZG parameters of size `2^k` from powers of tau (the Lagrange basis is computed here).
pub fn params_from_powers(powers: PowersOfTau) -> ParamsKZG<Bn256> {
    let k = powers.tau_g1.len().trailing_zeros();
    // `from_parts` is a method only for type reasons; a k = 1 instance is cheap.
    let shell = ParamsKZG::<Bn256>::setup(1, ChaCha20Rng::from_seed([0u8; 32]));
    shell.from_parts(k, powers.tau_g1, None, G2Affine::generator(), powers.tau_g2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_modulus_is_bn254s() {
        let q = modulus_le();
        assert_eq!(q.len(), 32);
        assert_eq!(hex::encode(q.iter().rev().copied().collect::<Vec<_>>()), "30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47");
    }

    #[test]
    fn montgomery_bytes_decode() {
        let r_inv = Fq::from(2).pow_vartime([256]).invert().unwrap();
        let seven = Fq::from(7);
        // 7 in Montgomery form is 7·R.
        let mont = seven * Fq::from(2).pow_vartime([256]);
        let mut bytes = mont.to_repr().as_ref().to_vec();
        assert_eq!(fq_from_montgomery(&bytes, &r_inv), Some(seven));
        bytes.iter_mut().for_each(|b| *b = 0xff);
        assert_eq!(fq_from_montgomery(&bytes, &r_inv), None);
    }

    #[test]
    fn garbage_is_refused() {
        let dir = std::env::temp_dir().join(format!("zkml-ptau-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.ptau");
        std::fs::write(&path, b"ptau\x01\x00\x00\x00\x01\x00\x00\x00").unwrap();
        assert!(read_ptau(&path, 4).unwrap_err().to_string().contains("not a usable"));
        // A section claiming 2^60 bytes is skipped, not allocated: truncated, not an abort.
        let mut huge = b"ptau\x01\x00\x00\x00\x01\x00\x00\x00\x05\x00\x00\x00".to_vec();
        huge.extend_from_slice(&(1u64 << 60).to_le_bytes());
        std::fs::write(&path, &huge).unwrap();
        assert!(read_ptau(&path, 4).unwrap_err().to_string().contains("truncated"));
        std::fs::write(&path, b"zkey").unwrap();
        assert!(read_ptau(&path, 4).unwrap_err().to_string().contains("ptau"));
    }
}
