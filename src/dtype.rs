//! Element types: the fifteen dtypes dlbridge carries, their names and sizes,
//! and their DLPack `DLDataType` codes.

use crate::error::{Error, Result};
use dlpark::ffi::DLDataType;
use std::fmt;

/// The family a dtype belongs to, ordered for type promotion:
/// `Bool < Int < Float < Complex`, as PyTorch promotes Python scalars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `bool`.
    Bool,
    /// Signed and unsigned integers.
    Int,
    /// Real floating point, including `float16` and `bfloat16`.
    Float,
    /// Complex floating point.
    Complex,
}

/// The element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// One byte, 0 or 1.
    Bool,
    /// Signed 8-bit integer.
    Int8,
    /// Signed 16-bit integer.
    Int16,
    /// Signed 32-bit integer.
    Int32,
    /// Signed 64-bit integer.
    Int64,
    /// Unsigned 8-bit integer.
    UInt8,
    /// Unsigned 16-bit integer.
    UInt16,
    /// Unsigned 32-bit integer.
    UInt32,
    /// Unsigned 64-bit integer.
    UInt64,
    /// IEEE 754 half precision ([`half::f16`]).
    Float16,
    /// Brain floating point ([`half::bf16`]).
    BFloat16,
    /// IEEE 754 single precision.
    Float32,
    /// IEEE 754 double precision.
    Float64,
    /// Two `float32`s: real, imaginary.
    Complex64,
    /// Two `float64`s: real, imaginary.
    Complex128,
}

impl DType {
    /// Every dtype, in the order the Python module lists them.
    pub const ALL: [DType; 15] = [
        DType::Bool,
        DType::Int8,
        DType::Int16,
        DType::Int32,
        DType::Int64,
        DType::UInt8,
        DType::UInt16,
        DType::UInt32,
        DType::UInt64,
        DType::Float16,
        DType::BFloat16,
        DType::Float32,
        DType::Float64,
        DType::Complex64,
        DType::Complex128,
    ];

    /// The canonical name, shared with NumPy and PyTorch (`"float32"`).
    pub const fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::Int8 => "int8",
            DType::Int16 => "int16",
            DType::Int32 => "int32",
            DType::Int64 => "int64",
            DType::UInt8 => "uint8",
            DType::UInt16 => "uint16",
            DType::UInt32 => "uint32",
            DType::UInt64 => "uint64",
            DType::Float16 => "float16",
            DType::BFloat16 => "bfloat16",
            DType::Float32 => "float32",
            DType::Float64 => "float64",
            DType::Complex64 => "complex64",
            DType::Complex128 => "complex128",
        }
    }

    /// Looks a dtype up by its canonical name, the one [`DType::name`]
    /// gives. Only canonical names: no aliases such as `"float"`, `"f4"` or
    /// `"torch.float32"` (the Python layer maps those objects itself).
    ///
    /// ```
    /// use dlbridge::{DType, Error};
    ///
    /// assert_eq!(DType::from_name("bfloat16")?, DType::BFloat16);
    /// assert!(DType::ALL.iter().all(|&d| DType::from_name(d.name()) == Ok(d)));
    /// assert_eq!(
    ///     DType::from_name("float").unwrap_err(),
    ///     Error::UnknownDType { name: "float".into() }
    /// );
    /// # Ok::<(), Error>(())
    /// ```
    pub fn from_name(name: &str) -> Result<DType> {
        DType::ALL
            .into_iter()
            .find(|dtype| dtype.name() == name)
            .ok_or_else(|| Error::UnknownDType {
                name: name.to_owned(),
            })
    }

    /// Size of one element in bytes.
    pub const fn itemsize(self) -> usize {
        match self {
            DType::Bool | DType::Int8 | DType::UInt8 => 1,
            DType::Int16 | DType::UInt16 | DType::Float16 | DType::BFloat16 => 2,
            DType::Int32 | DType::UInt32 | DType::Float32 => 4,
            DType::Int64 | DType::UInt64 | DType::Float64 | DType::Complex64 => 8,
            DType::Complex128 => 16,
        }
    }

    /// The alignment a Rust value of this dtype needs: the item size, but
    /// half of it for complex numbers (a pair of floats).
    pub const fn alignment(self) -> usize {
        match self {
            DType::Complex64 => 4,
            DType::Complex128 => 8,
            _ => self.itemsize(),
        }
    }

    /// The promotion family of this dtype.
    pub const fn kind(self) -> Kind {
        match self {
            DType::Bool => Kind::Bool,
            DType::Int8
            | DType::Int16
            | DType::Int32
            | DType::Int64
            | DType::UInt8
            | DType::UInt16
            | DType::UInt32
            | DType::UInt64 => Kind::Int,
            DType::Float16 | DType::BFloat16 | DType::Float32 | DType::Float64 => Kind::Float,
            DType::Complex64 | DType::Complex128 => Kind::Complex,
        }
    }

    /// The dtype PyTorch infers for Python scalars of `kind`: bool, int64,
    /// float32 (torch's default float) and complex64.
    pub const fn default_for(kind: Kind) -> DType {
        match kind {
            Kind::Bool => DType::Bool,
            Kind::Int => DType::Int64,
            Kind::Float => DType::Float32,
            Kind::Complex => DType::Complex64,
        }
    }

    /// The DLPack descriptor of this dtype (always one lane).
    pub const fn to_dlpack(self) -> DLDataType {
        match self {
            DType::Bool => DLDataType::BOOL,
            DType::Int8 => DLDataType::I8,
            DType::Int16 => DLDataType::I16,
            DType::Int32 => DLDataType::I32,
            DType::Int64 => DLDataType::I64,
            DType::UInt8 => DLDataType::U8,
            DType::UInt16 => DLDataType::U16,
            DType::UInt32 => DLDataType::U32,
            DType::UInt64 => DLDataType::U64,
            DType::Float16 => DLDataType::F16,
            DType::BFloat16 => DLDataType::BF16,
            DType::Float32 => DLDataType::F32,
            DType::Float64 => DLDataType::F64,
            DType::Complex64 => DLDataType::C64,
            DType::Complex128 => DLDataType::C128,
        }
    }

    /// Maps a foreign DLPack descriptor to a dtype.
    ///
    /// Only single-lane types are accepted: DLPack's vector types (`lanes > 1`)
    /// have no NumPy or PyTorch counterpart. Neither do float8 and sub-byte
    /// types; all are refused with [`Error::UnsupportedDLPackDType`].
    ///
    /// ```
    /// use dlbridge::{DType, Error};
    /// use dlpark::ffi::{DLDataType, DLDataTypeCode};
    ///
    /// // DLPack's bool is code kDLBool, 8 bits, 1 lane.
    /// assert_eq!(DType::from_dlpack(DLDataType::BOOL)?, DType::Bool);
    /// assert_eq!(DType::from_dlpack(DType::Complex64.to_dlpack())?, DType::Complex64);
    ///
    /// let float4 = DLDataType { code: DLDataTypeCode::FLOAT, bits: 32, lanes: 4 };
    /// assert_eq!(
    ///     DType::from_dlpack(float4).unwrap_err(),
    ///     Error::UnsupportedDLPackDType { code: 2, bits: 32, lanes: 4 }
    /// );
    /// # Ok::<(), Error>(())
    /// ```
    pub fn from_dlpack(dtype: DLDataType) -> Result<DType> {
        DType::ALL
            .into_iter()
            .find(|candidate| candidate.to_dlpack().matches(dtype))
            .ok_or(Error::UnsupportedDLPackDType {
                code: dtype.code.0,
                bits: dtype.bits,
                lanes: dtype.lanes,
            })
    }

    /// The dtype that holds values of both `self` and `other`: the higher
    /// kind, and within a kind the wider type (PyTorch's promotion; a signed
    /// and an unsigned integer meet at the next wider signed type, int64 at
    /// most, and a float meets a complex at the complex wide enough for it).
    ///
    /// These are `torch.promote_types`'s rules, not NumPy's
    /// `np.promote_types`, which widens further: NumPy makes `int64` with
    /// `float32` a `float64`, and `int64` with `uint64` a `float64`, where
    /// this gives `float32` and `int64`.
    ///
    /// ```
    /// use dlbridge::DType;
    ///
    /// assert_eq!(DType::Int8.promote(DType::UInt8), DType::Int16);
    /// assert_eq!(DType::Int64.promote(DType::UInt64), DType::Int64);
    /// assert_eq!(DType::Int64.promote(DType::Float32), DType::Float32);
    /// assert_eq!(DType::Float16.promote(DType::BFloat16), DType::Float32);
    /// assert_eq!(DType::Float64.promote(DType::Complex64), DType::Complex128);
    /// assert_eq!(DType::Bool.promote(DType::UInt8), DType::UInt8);
    /// ```
    pub fn promote(self, other: DType) -> DType {
        use DType::*;
        if self == other {
            return self;
        }
        let (low, high) = if self.kind() <= other.kind() {
            (self, other)
        } else {
            (other, self)
        };
        match (low.kind(), high.kind()) {
            (Kind::Float, Kind::Complex) if low == Float64 => Complex128,
            (a, b) if a != b => high,
            (Kind::Int, _) => {
                let signed = |d: DType| matches!(d, Int8 | Int16 | Int32 | Int64);
                if signed(low) == signed(high) {
                    if low.itemsize() >= high.itemsize() {
                        low
                    } else {
                        high
                    }
                } else {
                    let (s, u) = if signed(low) {
                        (low, high)
                    } else {
                        (high, low)
                    };
                    match s.itemsize().max(u.itemsize() * 2) {
                        1 => Int8,
                        2 => Int16,
                        4 => Int32,
                        _ => Int64,
                    }
                }
            }
            // float16 and bfloat16 meet at float32, as in PyTorch.
            (Kind::Float, _) if low.itemsize() == high.itemsize() => Float32,
            _ => {
                if low.itemsize() >= high.itemsize() {
                    low
                } else {
                    high
                }
            }
        }
    }

    /// Whether this is one of the two complex dtypes.
    pub const fn is_complex(self) -> bool {
        matches!(self.kind(), Kind::Complex)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Rust type whose values are elements of a [`DType`].
///
/// # Safety
///
/// `Self` must have exactly the size of `Self::DTYPE.itemsize()`, and every bit
/// pattern a tensor of that dtype may hold must be a valid `Self` (for `bool`,
/// the tensor must hold only 0 and 1, which dlbridge's writers guarantee).
pub unsafe trait Element: Copy + Send + Sync + 'static {
    /// The dtype this type stores.
    const DTYPE: DType;
}

macro_rules! impl_element {
    ($($ty:ty => $dtype:ident),* $(,)?) => {$(
        // SAFETY: each Rust type has the size and bit-validity of its dtype.
        unsafe impl Element for $ty {
            const DTYPE: DType = DType::$dtype;
        }
    )*};
}

impl_element!(
    bool => Bool,
    i8 => Int8,
    i16 => Int16,
    i32 => Int32,
    i64 => Int64,
    u8 => UInt8,
    u16 => UInt16,
    u32 => UInt32,
    u64 => UInt64,
    half::f16 => Float16,
    half::bf16 => BFloat16,
    f32 => Float32,
    f64 => Float64,
    num_complex::Complex<f32> => Complex64,
    num_complex::Complex<f64> => Complex128,
);

#[cfg(test)]
mod tests {
    use super::*;
    use dlpark::ffi::DLDataTypeCode;

    #[test]
    fn names_round_trip() {
        for dtype in DType::ALL {
            assert_eq!(DType::from_name(dtype.name()).unwrap(), dtype);
        }
        assert!(matches!(
            DType::from_name("float128"),
            Err(Error::UnknownDType { name }) if name == "float128"
        ));
    }

    #[test]
    fn dlpack_codes_round_trip_and_sizes_agree() {
        for dtype in DType::ALL {
            let dl = dtype.to_dlpack();
            assert_eq!(DType::from_dlpack(dl).unwrap(), dtype);
            assert_eq!(dl.lanes, 1);
            assert_eq!(usize::from(dl.bits) / 8, dtype.itemsize());
        }
    }

    #[test]
    fn rejects_vector_and_unknown_dtypes() {
        let vector = DLDataType::new(DLDataTypeCode::FLOAT, 32, 4);
        assert!(matches!(
            DType::from_dlpack(vector),
            Err(Error::UnsupportedDLPackDType { lanes: 4, .. })
        ));
        let float8 = DLDataType::F8E4M3FN;
        assert!(DType::from_dlpack(float8).is_err());
        let odd_int = DLDataType::new(DLDataTypeCode::INT, 24, 1);
        assert!(DType::from_dlpack(odd_int).is_err());
    }

    #[test]
    fn promotion_follows_torch() {
        use DType::*;
        let cases = [
            (Int32, Int64, Int64),
            (UInt8, Int8, Int16),
            (UInt32, Int32, Int64),
            (Bool, Int8, Int8),
            (Int64, Float16, Float16),
            (Float16, BFloat16, Float32),
            (Float32, Float64, Float64),
            (Float64, Complex64, Complex128),
            (Float32, Complex64, Complex64),
        ];
        for (a, b, expected) in cases {
            assert_eq!(a.promote(b), expected, "{a} {b}");
            assert_eq!(b.promote(a), expected, "{b} {a}");
        }
    }

    #[test]
    fn promotion_kinds_are_ordered() {
        assert!(Kind::Bool < Kind::Int && Kind::Int < Kind::Float && Kind::Float < Kind::Complex);
        assert_eq!(DType::default_for(Kind::Float), DType::Float32);
        assert_eq!(DType::default_for(Kind::Int), DType::Int64);
    }
}
