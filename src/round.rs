//! Correctly rounded narrowing conversions to float dtypes.
//!
//! IEEE 754 (and so NumPy's `astype`, PyTorch's `.to()` and `ml_dtypes`)
//! rounds a conversion once: the exact source value goes to the nearest
//! representable value, ties to even. Two roundings in a row can land
//! elsewhere: `2^60 + 2^36 + 1` is nearest to `2^60 + 2^37` in float32, but
//! rounding it to float64 first gives the tie `2^60 + 2^36`, which then goes to
//! the even `2^60`.
//!
//! Rust's `as` between primitive numbers rounds once, so `i64 as f32`,
//! `u64 as f64` and `f64 as f32` need nothing here. What does:
//!
//! - float64 to float16 or bfloat16: `half::f16::from_f64` rounds through
//!   float32 with F16C (twice to nearest), and without it drops the low 32
//!   bits of the mantissa before rounding; `bf16::from_f64` drops them too.
//! - integers to float16 or bfloat16: they have no direct conversion, and
//!   going through float32 or float64 with `as` rounds twice.
//!
//! Both go through float32 rounded *to odd* (truncate, then set the last bit
//! if anything was dropped), then `half`'s float32 conversion, which rounds to
//! nearest even (in software or with F16C). Rounding to odd with at least two
//! more bits than the target keeps the information the second rounding needs
//! (whether the value was exactly on, above or below a midpoint), so the pair
//! rounds as one correct rounding would (Boldo and Melquiond, "Emulation of
//! FMA and correctly rounded sums: proved algorithms using rounding to odd",
//! IEEE Transactions on Computers, 2008). Float32 has 24 bits, float16 11 and
//! bfloat16 8; float32's exponent range covers float16's, and its subnormals
//! are finer than bfloat16's, so the margin holds everywhere.

use half::{bf16, f16};

/// `value` rounded to float32 *to odd*: truncated toward zero, with the last
/// mantissa bit set when that dropped anything.
///
/// Not a final result: it feeds a second rounding to a narrower format (see
/// the module documentation). Values past float32's range become its largest
/// finite value, as truncation gives, which any narrower format then rounds to
/// infinity or its own overflow value as it should. NaN and infinities pass
/// through.
#[inline]
pub(crate) fn f64_to_f32_odd(value: f64) -> f32 {
    let nearest = value as f32;
    if f64::from(nearest) == value || value.is_nan() {
        return nearest;
    }
    if nearest.is_infinite() {
        // `value` is finite (else it was exact above), so this is overflow.
        return f32::MAX.copysign(nearest);
    }
    let bits = nearest.to_bits();
    if bits & 1 == 1 {
        return nearest;
    }
    // `value` lies strictly between `nearest` and its neighbour on the other
    // side; of two neighbours with the same sign, one has an odd mantissa.
    // `nearest` is not zero here when it is above `value` in magnitude, and
    // float32's largest finite value is odd, so neither step leaves the
    // finite numbers of `value`'s sign.
    if f64::from(nearest).abs() > value.abs() {
        f32::from_bits(bits - 1)
    } else {
        f32::from_bits(bits + 1)
    }
}

/// `magnitude` rounded to odd at 24 significant bits: the bits below the top
/// 24 are cleared, and the lowest kept bit is set when that dropped anything.
/// The result converts to float32 exactly.
#[inline]
fn u64_to_24_bits_odd(magnitude: u64) -> u64 {
    let width = u64::BITS - magnitude.leading_zeros();
    if width <= f32::MANTISSA_DIGITS {
        return magnitude;
    }
    let dropped = width - f32::MANTISSA_DIGITS;
    let low = (1u64 << dropped) - 1;
    if magnitude & low == 0 {
        magnitude
    } else {
        (magnitude & !low) | (1u64 << dropped)
    }
}

/// A signed integer rounded to float32 to odd (exactly, when it fits in 24
/// bits), for a second rounding to float16 or bfloat16.
#[inline]
fn i64_to_f32_odd(value: i64) -> f32 {
    // Exact: at most 24 significant bits, and 2^64 is far inside the range.
    let magnitude = u64_to_24_bits_odd(value.unsigned_abs()) as f32;
    if value < 0 { -magnitude } else { magnitude }
}

// Single values go through `half`'s software float32 -> float16 conversion
// (`from_f32_const`, correct to nearest even): it inlines into the copy
// loops, where `from_f32` makes a call per element to reach F16C, which
// measured slower. Slices use F16C (`crate::copy`).

/// A float64 rounded once, to nearest even, to float16.
#[inline]
pub(crate) fn f64_to_f16(value: f64) -> f16 {
    f16::from_f32_const(f64_to_f32_odd(value))
}

/// A float64 rounded once, to nearest even, to bfloat16.
#[inline]
pub(crate) fn f64_to_bf16(value: f64) -> bf16 {
    bf16::from_f32(f64_to_f32_odd(value))
}

/// A signed integer rounded once, to nearest even, to float16.
#[inline]
pub(crate) fn i64_to_f16(value: i64) -> f16 {
    f16::from_f32_const(i64_to_f32_odd(value))
}

/// A signed integer rounded once, to nearest even, to bfloat16.
#[inline]
pub(crate) fn i64_to_bf16(value: i64) -> bf16 {
    bf16::from_f32(i64_to_f32_odd(value))
}

/// An unsigned integer rounded once, to nearest even, to float16 (everything
/// from 65520 up is infinity).
#[inline]
pub(crate) fn u64_to_f16(value: u64) -> f16 {
    f16::from_f32_const(u64_to_24_bits_odd(value) as f32)
}

/// An unsigned integer rounded once, to nearest even, to bfloat16.
#[inline]
pub(crate) fn u64_to_bf16(value: u64) -> bf16 {
    bf16::from_f32(u64_to_24_bits_odd(value) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Powers of two, exactly.
    fn p2(exponent: i32) -> f64 {
        2f64.powi(exponent)
    }

    #[test]
    fn round_to_odd_keeps_exact_values_and_marks_inexact_ones() {
        for exact in [0.0, -0.0, 1.0, -1.5, p2(-149), f64::from(f32::MAX)] {
            assert_eq!(f64_to_f32_odd(exact).to_bits(), (exact as f32).to_bits());
        }
        // Just above and below 1: truncation, then an odd last bit.
        let ulp = p2(-23);
        assert_eq!(f64::from(f64_to_f32_odd(1.0 + p2(-40))), 1.0 + ulp);
        assert_eq!(f64::from(f64_to_f32_odd(1.0 + ulp - p2(-40))), 1.0 + ulp);
        assert_eq!(f64::from(f64_to_f32_odd(-1.0 - p2(-40))), -1.0 - ulp);
        assert_eq!(
            f64::from(f64_to_f32_odd(1.0 + 2.0 * ulp + p2(-40))),
            1.0 + 3.0 * ulp
        );
        // Below float32's smallest subnormal: the smallest subnormal, signed.
        assert_eq!(f64_to_f32_odd(1e-300).to_bits(), 1);
        assert_eq!(f64_to_f32_odd(-1e-300).to_bits(), 0x8000_0001);
        // Past float32's range: its largest finite value.
        assert_eq!(f64_to_f32_odd(1e300), f32::MAX);
        assert_eq!(f64_to_f32_odd(-1e300), -f32::MAX);
        assert_eq!(f64_to_f32_odd(f64::INFINITY), f32::INFINITY);
        assert!(f64_to_f32_odd(f64::NAN).is_nan());
    }

    #[test]
    fn float64_to_float16_rounds_once() {
        // half's from_f64 gives 1.0: the 2^-40 that breaks the tie is dropped.
        assert_eq!(
            f64::from(f64_to_f16(1.0 + p2(-11) + p2(-40))),
            1.0 + p2(-10)
        );
        // A true tie goes to even; just below it goes down.
        assert_eq!(f64::from(f64_to_f16(1.0 + p2(-11))), 1.0);
        assert_eq!(f64::from(f64_to_f16(1.0 + 3.0 * p2(-11))), 1.0 + p2(-9));
        assert_eq!(f64::from(f64_to_f16(1.0 + p2(-11) - p2(-40))), 1.0);
        // Overflow: 65520 is the midpoint to the next binade, so infinity.
        assert_eq!(f64::from(f64_to_f16(65504.0)), 65504.0);
        assert_eq!(f64::from(f64_to_f16(65519.999)), 65504.0);
        assert_eq!(f64_to_f16(65520.0), f16::INFINITY);
        assert_eq!(f64_to_f16(-1e300), f16::NEG_INFINITY);
        // Subnormals: 2^-25 is half the smallest, a tie to zero; a hair more
        // rounds up, and float64 alone can tell the two apart.
        assert_eq!(f64_to_f16(p2(-25)).to_bits(), 0);
        assert_eq!(f64_to_f16(p2(-25) + p2(-70)).to_bits(), 1);
        assert_eq!(f64_to_f16(-p2(-25) - p2(-70)).to_bits(), 0x8001);
        assert_eq!(f64_to_f16(-1e-300).to_bits(), 0x8000);
        assert_eq!(f64_to_f16(-0.0).to_bits(), 0x8000);
        assert!(f64_to_f16(f64::NAN).is_nan());
        assert_eq!(f64_to_f16(f64::NEG_INFINITY), f16::NEG_INFINITY);
    }

    #[test]
    fn float64_to_bfloat16_rounds_once() {
        // torch and ml_dtypes: 8.087e22; half's from_f64: 8.028e22.
        let got = f64::from(f64_to_bf16(8.057544676790317e22));
        assert_eq!(got, 8.087052601914267e22);
        assert_eq!(f64::from(f64_to_bf16(1.0 + p2(-8) + p2(-40))), 1.0 + p2(-7));
        assert_eq!(f64::from(f64_to_bf16(1.0 + p2(-8))), 1.0);
        // Overflow: the midpoint above bfloat16's largest finite value is a
        // tie between an odd mantissa and infinity, so infinity.
        let max = f64::from(bf16::MAX);
        assert_eq!(f64::from(f64_to_bf16(max + p2(119) - p2(100))), max);
        assert_eq!(f64_to_bf16(max + p2(119)), bf16::INFINITY);
        assert_eq!(f64_to_bf16(f64::from(f32::MAX) * 2.0), bf16::INFINITY);
        // Subnormals: half of the smallest is a tie to zero.
        assert_eq!(f64_to_bf16(p2(-134)).to_bits(), 0);
        assert_eq!(f64_to_bf16(p2(-134) + p2(-180)).to_bits(), 1);
        assert!(f64_to_bf16(f64::NAN).is_nan());
    }

    #[test]
    fn integers_to_half_types_round_once() {
        // Through float64 this rounds twice: 2^60 + 2^52 + 1 becomes the tie
        // 2^60 + 2^52, then the even 2^60.
        let v = (1i64 << 60) + (1 << 52) + 1;
        assert_eq!(f64::from(i64_to_bf16(v)), p2(60) + p2(53));
        assert_eq!(f64::from(i64_to_bf16(-v)), -(p2(60) + p2(53)));
        assert_eq!(f64::from(u64_to_bf16(v as u64)), p2(60) + p2(53));
        assert_eq!(f64::from(i64_to_bf16((1 << 60) + (1 << 52))), p2(60));
        assert_eq!(f64::from(i64_to_f16(2049)), 2048.0);
        assert_eq!(f64::from(i64_to_f16(2051)), 2052.0);
        assert_eq!(f64::from(i64_to_f16(65519)), 65504.0);
        assert_eq!(i64_to_f16(65520), f16::INFINITY);
        assert_eq!(i64_to_f16(i64::MIN), f16::NEG_INFINITY);
        assert_eq!(u64_to_f16(u64::MAX), f16::INFINITY);
        assert_eq!(f64::from(i64_to_bf16(i64::MIN)), -p2(63));
        assert_eq!(f64::from(u64_to_bf16(u64::MAX)), p2(64));
        assert_eq!(i64_to_f16(0).to_bits(), 0);
        assert_eq!(f64::from(i64_to_bf16(257)), 256.0);
        assert_eq!(f64::from(i64_to_bf16(259)), 260.0);
    }

    #[test]
    fn rust_casts_already_round_once() {
        // The conversions this module leaves to `as`, on the example.
        let v = (1i64 << 60) + (1 << 36) + 1;
        assert_eq!(f64::from(v as f32), p2(60) + p2(37));
        assert_eq!(f64::from(v as u64 as f32), p2(60) + p2(37));
        assert_eq!(f64::from((v as f64) as f32), p2(60));
    }
}
