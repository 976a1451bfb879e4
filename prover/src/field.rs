//! BN254 scalar-field elements as the rest of the crate, proof files and contracts see them: signed
//! integers (a negative `v` is `p − |v|`) and `0x`-prefixed big-endian hex (a Solidity `uint256`).
//! The one place these conversions live; the aggregator uses them too.

use halo2_proofs::circuit::Value;
use halo2_proofs::halo2curves::bn256::Fr;
use halo2_proofs::halo2curves::ff::PrimeField;

/// The field element of a signed integer (negative values are `p - |v|`).
pub fn fe(v: i128) -> Fr {
    if v >= 0 {
        Fr::from_u128(v as u128)
    } else {
        -Fr::from_u128(v.unsigned_abs())
    }
}

/// A witness value for halo2 from an optional integer.
pub fn witness(v: Option<i128>) -> Value<Fr> {
    v.map_or(Value::unknown(), |v| Value::known(fe(v)))
}

/// The integer a field element stands for, if it is a small signed value (|v| < 2^126).
pub fn fr_to_i128(f: &Fr) -> Option<i128> {
    let small = |x: &Fr| {
        let repr = x.to_repr();
        let b = repr.as_ref();
        if b[16..].iter().any(|&x| x != 0) {
            return None;
        }
        Some(u128::from_le_bytes(b[..16].try_into().ok()?))
    };
    match small(f) {
        Some(v) if v < (1u128 << 126) => Some(v as i128),
        _ => small(&-*f).filter(|&v| v < (1u128 << 126)).map(|v| -(v as i128)),
    }
}

/// Hex of a field element: `0x` and 64 big-endian digits (as Solidity reads a `uint256`).
pub fn fr_to_hex(f: &Fr) -> String {
    let mut bytes = f.to_repr();
    bytes.as_mut().reverse();
    format!("0x{}", hex::encode(bytes.as_ref()))
}

/// Parses [`fr_to_hex`]'s format (the `0x` optional): exactly 32 bytes, below the field modulus.
/// The error says what is wrong with `s`.
pub fn fr_from_hex(s: &str) -> Result<Fr, String> {
    let digits = s.strip_prefix("0x").unwrap_or(s);
    let mut bytes = hex::decode(digits).map_err(|e| format!("{s}: {e}"))?;
    if bytes.len() != 32 {
        return Err(format!("{s}: expected 32 bytes, got {}", bytes.len()));
    }
    bytes.reverse();
    let mut repr = <Fr as PrimeField>::Repr::default();
    repr.as_mut().copy_from_slice(&bytes);
    Option::from(Fr::from_repr(repr)).ok_or_else(|| format!("{s}: not below the field modulus"))
}

/// Parses a word given by a user (a salt, a context word): `0x` and 1 to 64 hex digits, read as
/// a big-endian number left-padded to 32 bytes (an address is `uint256(uint160(a))`), below the
/// field modulus. The error says which of these fails.
pub fn fr_from_word_hex(s: &str) -> Result<Fr, &'static str> {
    let digits = s.strip_prefix("0x").ok_or("no 0x prefix")?;
    if digits.is_empty() || digits.len() > 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("not hex of at most 32 bytes");
    }
    fr_from_hex(&format!("{digits:0>64}")).map_err(|_| "not a field element (at or above the BN254 scalar modulus)")
}

#[cfg(test)]
mod tests {
    use super::*;

    const P_HEX: &str = "0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001";

    #[test]
    fn signed_integers_and_hex_round_trip() {
        for v in [0i128, 1, -1, 255, -(1 << 100), (1 << 125) - 1] {
            assert_eq!(fr_to_i128(&fe(v)), Some(v), "{v}");
            assert_eq!(fr_from_hex(&fr_to_hex(&fe(v))), Ok(fe(v)));
        }
        assert_eq!(fr_to_hex(&fe(-1)), "0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000000");
        assert_eq!(fr_to_i128(&Fr::from_u128(1 << 127)), None, "not a small value");
        assert!(fr_from_hex(P_HEX).unwrap_err().contains("modulus"));
        assert!(fr_from_hex("0x01").unwrap_err().contains("32 bytes"));
        assert!(fr_from_hex("0xzz").is_err());
    }

    #[test]
    fn words_are_short_hex_below_the_modulus() {
        assert_eq!(fr_from_word_hex("0x2a"), Ok(fe(42)));
        assert_eq!(fr_from_word_hex(&format!("0x{}2a", "0".repeat(62))), Ok(fe(42)));
        for bad in ["2a", "0x", "0xzz", P_HEX, &format!("0x1{}", "0".repeat(64))] {
            assert!(fr_from_word_hex(bad).is_err(), "{bad}");
        }
    }
}
