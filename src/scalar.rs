//! A single element of any dtype, and the conversions between dtypes.
//!
//! Two conversions exist, matching the frameworks: [`Scalar::cast_to`] wraps
//! integers and truncates floats like NumPy's `astype` and PyTorch's `.to()`;
//! [`Scalar::checked_for`] refuses integers that do not fit, as PyTorch does for
//! Python ints (`torch.tensor([300], dtype=torch.uint8)` raises).
//!
//! Conversions to float dtypes round once, to nearest even, from the exact
//! value (IEEE 754, as NumPy's `astype`): each target has its own conversion
//! (`as_f64`, `as_f32`, `as_f16`, `as_bf16`) rather than narrowing a float64,
//! which would round twice. Those that Rust's `as` cannot do in one step live
//! in `crate::round`.

use crate::dtype::{DType, Element, Kind, dispatch_dtype};
use crate::error::{Error, Result};
use crate::round;
use half::{bf16, f16};
use num_complex::Complex;

/// One value, wide enough to hold an element of any dtype exactly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar {
    /// A boolean.
    Bool(bool),
    /// A signed integer (also unsigned values below 2^63).
    Int(i64),
    /// An unsigned integer at or above 2^63.
    UInt(u64),
    /// A real float.
    Float(f64),
    /// A complex number: real, imaginary.
    Complex(f64, f64),
}

impl Scalar {
    /// The promotion family of this value.
    pub fn kind(self) -> Kind {
        match self {
            Scalar::Bool(_) => Kind::Bool,
            Scalar::Int(_) | Scalar::UInt(_) => Kind::Int,
            Scalar::Float(_) => Kind::Float,
            Scalar::Complex(..) => Kind::Complex,
        }
    }

    /// An unsigned value, normalised so that values that fit `i64` are
    /// `Int`: `UInt` holds only those above `i64::MAX`, so one value has one
    /// representation.
    ///
    /// ```
    /// use dlbridge::Scalar;
    ///
    /// assert_eq!(Scalar::from_u64(7), Scalar::Int(7));
    /// assert_eq!(Scalar::from_u64(u64::MAX), Scalar::UInt(u64::MAX));
    /// ```
    pub fn from_u64(value: u64) -> Scalar {
        i64::try_from(value).map_or(Scalar::UInt(value), Scalar::Int)
    }

    /// The value as a real float64, rounded once (the real part of a complex
    /// value).
    #[inline(always)]
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Scalar::Bool(b) => f64::from(u8::from(b)),
            // `as` rounds integers to nearest even in one step.
            Scalar::Int(v) => v as f64,
            Scalar::UInt(v) => v as f64,
            Scalar::Float(v) | Scalar::Complex(v, _) => v,
        }
    }

    /// The value as a real float32, rounded once from the exact value (the
    /// real part of a complex value).
    #[inline(always)]
    pub(crate) fn as_f32(self) -> f32 {
        match self {
            Scalar::Bool(b) => f32::from(u8::from(b)),
            // Directly, not through float64: `(2^60 + 2^36 + 1) as f64` is
            // the tie `2^60 + 2^36`, which float32 then rounds to `2^60`.
            Scalar::Int(v) => v as f32,
            Scalar::UInt(v) => v as f32,
            Scalar::Float(v) | Scalar::Complex(v, _) => v as f32,
        }
    }

    /// The value as a real float16, rounded once from the exact value (the
    /// real part of a complex value).
    #[inline(always)]
    pub(crate) fn as_f16(self) -> f16 {
        match self {
            Scalar::Bool(b) => f16::from(u8::from(b)),
            Scalar::Int(v) => round::i64_to_f16(v),
            Scalar::UInt(v) => round::u64_to_f16(v),
            Scalar::Float(v) | Scalar::Complex(v, _) => round::f64_to_f16(v),
        }
    }

    /// The value as a real bfloat16, rounded once from the exact value (the
    /// real part of a complex value).
    #[inline(always)]
    pub(crate) fn as_bf16(self) -> bf16 {
        match self {
            Scalar::Bool(b) => bf16::from(u8::from(b)),
            Scalar::Int(v) => round::i64_to_bf16(v),
            Scalar::UInt(v) => round::u64_to_bf16(v),
            Scalar::Float(v) | Scalar::Complex(v, _) => round::f64_to_bf16(v),
        }
    }

    /// The value as a wrapping 64-bit integer: floats truncate toward zero
    /// (saturating, NaN to 0), complex numbers drop their imaginary part.
    #[inline(always)]
    pub(crate) fn as_wrapped_bits(self) -> u64 {
        match self {
            Scalar::Bool(b) => u64::from(b),
            Scalar::Int(v) => v as u64,
            Scalar::UInt(v) => v,
            Scalar::Float(v) | Scalar::Complex(v, _) => {
                if v < 0.0 {
                    (v as i64) as u64
                } else {
                    v as u64
                }
            }
        }
    }

    #[inline(always)]
    pub(crate) fn is_nonzero(self) -> bool {
        match self {
            Scalar::Bool(b) => b,
            Scalar::Int(v) => v != 0,
            Scalar::UInt(v) => v != 0,
            Scalar::Float(v) => v != 0.0,
            Scalar::Complex(re, im) => re != 0.0 || im != 0.0,
        }
    }

    /// Converts to a value of `dtype` as a cast does: integers wrap, floats
    /// truncate toward zero, anything non-zero becomes `true`, complex numbers
    /// keep their real part for real dtypes, and conversions to float dtypes
    /// round once, to nearest even.
    ///
    /// ```
    /// use dlbridge::{DType, Scalar};
    ///
    /// assert_eq!(Scalar::Int(300).cast_to(DType::UInt8), Scalar::Int(44));
    /// assert_eq!(Scalar::Float(-2.7).cast_to(DType::Int32), Scalar::Int(-2));
    /// assert_eq!(Scalar::Complex(1.5, 2.0).cast_to(DType::Float64), Scalar::Float(1.5));
    /// assert_eq!(Scalar::Float(0.5).cast_to(DType::Bool), Scalar::Bool(true));
    /// ```
    pub fn cast_to(self, dtype: DType) -> Scalar {
        dispatch_dtype!(dtype, T => T::to_scalar(T::from_scalar(self)))
    }

    /// Converts a value given by the user (a Python scalar) to `dtype`,
    /// refusing what `dtype` cannot hold: integers out of range, floats whose
    /// truncation is out of range (or NaN and infinities, for integer dtypes),
    /// and complex numbers with an imaginary part, for real dtypes.
    ///
    /// ```
    /// use dlbridge::{DType, Error, Scalar};
    ///
    /// assert_eq!(Scalar::Int(255).checked_for(DType::UInt8)?, Scalar::Int(255));
    /// assert!(matches!(Scalar::Int(256).checked_for(DType::UInt8), Err(Error::Overflow { .. })));
    /// assert!(matches!(Scalar::Float(f64::NAN).checked_for(DType::Int64), Err(Error::Overflow { .. })));
    /// assert!(matches!(
    ///     Scalar::Complex(1.0, 2.0).checked_for(DType::Float32),
    ///     Err(Error::ComplexToReal { .. })
    /// ));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn checked_for(self, dtype: DType) -> Result<Scalar> {
        let overflow = || Error::Overflow {
            value: self.to_string(),
            dtype,
        };
        if let Scalar::Complex(_, im) = self
            && im != 0.0
            && !dtype.is_complex()
            && dtype != DType::Bool
        {
            return Err(Error::ComplexToReal {
                value: self.to_string(),
                dtype,
            });
        }
        if let Some((min, max)) = dispatch_dtype!(dtype, T => T::INT_RANGE) {
            let in_range = match self {
                Scalar::Int(v) => (min..=max).contains(&i128::from(v)),
                Scalar::UInt(v) => (min..=max).contains(&i128::from(v)),
                Scalar::Float(v) | Scalar::Complex(v, _) => {
                    // 2^127 bounds every integer dtype, so the cast is exact
                    // for everything that can pass.
                    let truncated = v.trunc();
                    truncated.is_finite()
                        && truncated.abs() < 2f64.powi(127)
                        && (min..=max).contains(&(truncated as i128))
                }
                Scalar::Bool(_) => true,
            };
            if !in_range {
                return Err(overflow());
            }
        }
        Ok(self.cast_to(dtype))
    }

    /// Reads the element of `dtype` at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to `dtype.itemsize()` readable bytes holding a value of
    /// `dtype`. It need not be aligned.
    pub(crate) unsafe fn read(ptr: *const u8, dtype: DType) -> Scalar {
        dispatch_dtype!(dtype, T => {
            // SAFETY: the caller guarantees `itemsize` readable bytes, and
            // `Convert` promises that `T::Bits` has that size and takes any
            // bit pattern; `read_unaligned` imposes no alignment.
            T::to_scalar(unsafe { ptr.cast::<<T as Convert>::Bits>().read_unaligned() })
        })
    }

    /// Writes this value, cast to `dtype` (see [`Scalar::cast_to`]), at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to `dtype.itemsize()` writable bytes that nothing else
    /// reads or writes during the call. It need not be aligned.
    pub(crate) unsafe fn write(self, ptr: *mut u8, dtype: DType) {
        dispatch_dtype!(dtype, T => {
            let bits = T::from_scalar(self);
            // SAFETY: the caller guarantees `itemsize` writable, unaliased
            // bytes, and `Convert` promises that `T::Bits` has that size;
            // `write_unaligned` imposes no alignment.
            unsafe { ptr.cast::<<T as Convert>::Bits>().write_unaligned(bits) }
        })
    }
}

/// How the elements of one dtype meet [`Scalar`]: the type their bits are
/// read and written as, and the two conversions every read, write and cast
/// goes through (`Scalar::read`, `Scalar::write`, `Scalar::cast_to`, and the
/// copy kernels of `crate::copy`, monomorphised per pair of dtypes through
/// [`dispatch_dtype!`]).
///
/// One impl per element type of `crate::dtype`'s table, by family below.
///
/// # Safety
///
/// `Bits` has the size of `Self` (the dtype's item size), and every bit
/// pattern of that size is a valid `Bits`: `Scalar::read`, `Scalar::write`
/// and the copy kernels read and write tensor memory as `Bits`.
pub(crate) unsafe trait Convert: Element {
    /// What an element is read and written as: the element type itself, but
    /// a `bool` is read as its byte, so that a byte other than 0 or 1 (which
    /// NumPy allows) is never a Rust `bool`. Of the dtype's size, and valid
    /// for every bit pattern.
    type Bits: Copy;

    /// The integer range, inclusive, for integer dtypes: what
    /// [`Scalar::checked_for`] accepts.
    const INT_RANGE: Option<(i128, i128)> = None;

    /// The element's value, exactly.
    fn to_scalar(bits: Self::Bits) -> Scalar;

    /// `value` cast to this dtype, with the semantics of [`Scalar::cast_to`].
    fn from_scalar(value: Scalar) -> Self::Bits;
}

/// `bool`: anything non-zero is `true`.
// SAFETY: a `u8` has `bool`'s size, and every byte is a `u8`.
unsafe impl Convert for bool {
    type Bits = u8;

    #[inline(always)]
    fn to_scalar(bits: u8) -> Scalar {
        Scalar::Bool(bits != 0)
    }

    #[inline(always)]
    fn from_scalar(value: Scalar) -> u8 {
        u8::from(value.is_nonzero())
    }
}

/// Integers: casts wrap (floats truncate toward zero first, see
/// [`Scalar::as_wrapped_bits`]). All but `u64` widen to `i64` losslessly.
macro_rules! convert_integers {
    ($($ty:ty),*) => {$(
        // SAFETY: `Bits` is the integer type itself, and every bit pattern
        // is an integer.
        unsafe impl Convert for $ty {
            type Bits = $ty;
            const INT_RANGE: Option<(i128, i128)> = Some((<$ty>::MIN as i128, <$ty>::MAX as i128));

            #[inline(always)]
            fn to_scalar(bits: $ty) -> Scalar {
                Scalar::Int(i64::from(bits))
            }

            #[inline(always)]
            fn from_scalar(value: Scalar) -> $ty {
                value.as_wrapped_bits() as $ty
            }
        }
    )*};
}

convert_integers!(i8, i16, i32, i64, u8, u16, u32);

/// `u64`: as the other integers, with values from 2^63 kept as `UInt`.
// SAFETY: as for the other integers.
unsafe impl Convert for u64 {
    type Bits = u64;
    const INT_RANGE: Option<(i128, i128)> = Some((0, u64::MAX as i128));

    #[inline(always)]
    fn to_scalar(bits: u64) -> Scalar {
        Scalar::from_u64(bits)
    }

    #[inline(always)]
    fn from_scalar(value: Scalar) -> u64 {
        value.as_wrapped_bits()
    }
}

/// Real floats: each converts from the exact value with its own rounding
/// (see `Scalar::as_f32`): narrowing through float64 would round twice.
macro_rules! convert_floats {
    ($($ty:ty => $from:path),*) => {$(
        // SAFETY: `Bits` is the float type itself, and every bit pattern is
        // a float (NaNs included).
        unsafe impl Convert for $ty {
            type Bits = $ty;

            #[inline(always)]
            fn to_scalar(bits: $ty) -> Scalar {
                Scalar::Float(f64::from(bits))
            }

            #[inline(always)]
            fn from_scalar(value: Scalar) -> $ty {
                $from(value)
            }
        }
    )*};
}

convert_floats!(f16 => Scalar::as_f16, bf16 => Scalar::as_bf16, f32 => Scalar::as_f32, f64 => Scalar::as_f64);

/// Complex numbers: a real value gets a zero imaginary part, each part rounds
/// once to the part's type.
macro_rules! convert_complex {
    ($($part:ty => $real:path),*) => {$(
        // SAFETY: `Bits` is the complex type itself, two floats
        // (`#[repr(C)]`), and every bit pattern of either is a float.
        unsafe impl Convert for Complex<$part> {
            type Bits = Complex<$part>;

            #[inline(always)]
            fn to_scalar(bits: Complex<$part>) -> Scalar {
                Scalar::Complex(f64::from(bits.re), f64::from(bits.im))
            }

            #[inline(always)]
            fn from_scalar(value: Scalar) -> Complex<$part> {
                match value {
                    Scalar::Complex(re, im) => Complex::new(re as $part, im as $part),
                    real => Complex::new($real(real), 0.0),
                }
            }
        }
    )*};
}

convert_complex!(f32 => Scalar::as_f32, f64 => Scalar::as_f64);

/// Rust's spelling of each value (`true`, `300`, `2.5`, and `1+2i` as
/// `num_complex` writes complex numbers), as error messages show them.
impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Int(v) => write!(f, "{v}"),
            Scalar::UInt(v) => write!(f, "{v}"),
            Scalar::Float(v) => write!(f, "{v}"),
            Scalar::Complex(re, im) => write!(f, "{re}{im:+}i"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: Scalar, dtype: DType) -> Scalar {
        let mut buffer = [0u8; 16];
        // SAFETY: 16 bytes fit every dtype.
        unsafe {
            value.write(buffer.as_mut_ptr(), dtype);
            Scalar::read(buffer.as_ptr(), dtype)
        }
    }

    #[test]
    fn every_dtype_round_trips_through_memory() {
        for dtype in DType::ALL {
            let value = match dtype.kind() {
                Kind::Bool => Scalar::Bool(true),
                Kind::Int => Scalar::Int(7),
                Kind::Float => Scalar::Float(1.5),
                Kind::Complex => Scalar::Complex(1.5, -2.0),
            };
            assert_eq!(round_trip(value, dtype), value, "{dtype}");
        }
        assert_eq!(
            round_trip(Scalar::UInt(u64::MAX), DType::UInt64),
            Scalar::UInt(u64::MAX)
        );
    }

    #[test]
    fn casts_wrap_and_truncate() {
        assert_eq!(Scalar::Int(300).cast_to(DType::UInt8), Scalar::Int(44));
        assert_eq!(Scalar::Int(-1).cast_to(DType::UInt16), Scalar::Int(65535));
        assert_eq!(Scalar::Float(-2.7).cast_to(DType::Int32), Scalar::Int(-2));
        assert_eq!(Scalar::Float(2.7).cast_to(DType::UInt8), Scalar::Int(2));
        assert_eq!(Scalar::Float(0.5).cast_to(DType::Bool), Scalar::Bool(true));
        assert_eq!(
            Scalar::Complex(3.0, 4.0).cast_to(DType::Float64),
            Scalar::Float(3.0)
        );
        assert_eq!(
            Scalar::Bool(true).cast_to(DType::Float32),
            Scalar::Float(1.0)
        );
        assert_eq!(
            Scalar::Float(1.0 / 3.0).cast_to(DType::Float16),
            Scalar::Float(0.333251953125)
        );
    }

    #[test]
    fn casts_to_floats_round_once_from_the_exact_value() {
        let p2 = |e: i32| 2f64.powi(e);
        // Through float64 these would round twice (see `crate::round`).
        let wide = (1i64 << 60) + (1 << 36) + 1;
        let nearest = Scalar::Float(p2(60) + p2(37));
        assert_eq!(Scalar::Int(wide).cast_to(DType::Float32), nearest);
        assert_eq!(Scalar::UInt(wide as u64).cast_to(DType::Float32), nearest);
        assert_eq!(
            Scalar::Int(wide).cast_to(DType::Complex64),
            Scalar::Complex(p2(60) + p2(37), 0.0)
        );
        assert_eq!(
            Scalar::Float(1.0 + p2(-11) + p2(-40)).cast_to(DType::Float16),
            Scalar::Float(1.0 + p2(-10))
        );
        assert_eq!(
            Scalar::Complex(1.0 + p2(-11) + p2(-40), 5.0).cast_to(DType::Float16),
            Scalar::Float(1.0 + p2(-10))
        );
        assert_eq!(
            Scalar::Float(8.057544676790317e22).cast_to(DType::BFloat16),
            Scalar::Float(8.087052601914267e22)
        );
        assert_eq!(
            Scalar::Int((1 << 60) + (1 << 52) + 1).cast_to(DType::BFloat16),
            Scalar::Float(p2(60) + p2(53))
        );
        assert_eq!(
            Scalar::Bool(true).cast_to(DType::BFloat16),
            Scalar::Float(1.0)
        );
        // What is written to memory is what `cast_to` gives.
        let written = round_trip(Scalar::Int(wide), DType::Float32);
        assert_eq!(written, nearest);
        let written = round_trip(Scalar::Float(1.0 + p2(-11) + p2(-40)), DType::Float16);
        assert_eq!(written, Scalar::Float(1.0 + p2(-10)));
    }

    #[test]
    fn values_display_in_rust_spelling() {
        assert_eq!(Scalar::Bool(true).to_string(), "true");
        assert_eq!(Scalar::UInt(u64::MAX).to_string(), "18446744073709551615");
        assert_eq!(Scalar::Complex(1.5, -2.0).to_string(), "1.5-2i");
        let error = Scalar::Complex(1.0, 2.0)
            .checked_for(DType::Float32)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot convert complex value 1+2i to real dtype float32 without losing its imaginary part"
        );
    }

    #[test]
    fn checked_conversion_refuses_out_of_range_ints() {
        assert!(Scalar::Int(255).checked_for(DType::UInt8).is_ok());
        let error = Scalar::Int(300).checked_for(DType::UInt8).unwrap_err();
        assert_eq!(
            error,
            Error::Overflow {
                value: "300".into(),
                dtype: DType::UInt8
            }
        );
        assert!(Scalar::Int(-1).checked_for(DType::UInt64).is_err());
        assert!(Scalar::UInt(u64::MAX).checked_for(DType::Int64).is_err());
        assert!(Scalar::UInt(u64::MAX).checked_for(DType::UInt64).is_ok());
        // Floats truncate, as in `t[0] = 2.7` on an int tensor, when the
        // result fits.
        assert_eq!(
            Scalar::Float(2.7).checked_for(DType::Int8).unwrap(),
            Scalar::Int(2)
        );
        assert_eq!(
            Scalar::Float(-1.5).checked_for(DType::Int8).unwrap(),
            Scalar::Int(-1)
        );
        assert!(Scalar::Float(1e20).checked_for(DType::Int8).is_err());
        assert!(Scalar::Float(-1.5).checked_for(DType::UInt8).is_err());
        assert!(Scalar::Float(f64::NAN).checked_for(DType::Int64).is_err());
        assert!(
            Scalar::Float(f64::INFINITY)
                .checked_for(DType::Float32)
                .is_ok()
        );
        assert!(matches!(
            Scalar::Complex(1.0, 2.0).checked_for(DType::Float64),
            Err(Error::ComplexToReal { .. })
        ));
        assert!(Scalar::Complex(1.0, 0.0).checked_for(DType::Int32).is_ok());
    }
}
