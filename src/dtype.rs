//! Element types: the fifteen dtypes dlbridge carries, their names and sizes,
//! and their DLPack `DLDataType` codes.

use crate::error::{Error, Result};
use dlpark::ffi::{DLDataType, DLDataTypeCode};
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

/// The one description of the dtypes dlbridge carries, a line each: the
/// variant, its Rust element type, its canonical name (NumPy's and PyTorch's),
/// its [`Kind`], its DLPack descriptor (a `DLDataType` constant of dlpark,
/// always one lane) and the variant's documentation.
///
/// `for_each_dtype!((path::to::callback) [args])` expands to
/// `path::to::callback! { [args] lines }`. The [`DType`] enum, [`DType::ALL`],
/// the facts behind [`DType::name`], [`DType::itemsize`] and the rest, the
/// [`Element`] impls and [`dispatch_dtype!`] are all generated from it, so a
/// new dtype is a line here, plus its conversions in `crate::scalar` (the
/// compiler asks for those: every element type must implement
/// `crate::scalar::Convert`).
macro_rules! for_each_dtype {
    (($($callback:tt)*) [$($args:tt)*]) => {
        $($callback)*! {
            [$($args)*]
            Bool       => bool,                      "bool",       Bool,    BOOL, "One byte, 0 or 1.";
            Int8       => i8,                        "int8",       Int,     I8,   "Signed 8-bit integer.";
            Int16      => i16,                       "int16",      Int,     I16,  "Signed 16-bit integer.";
            Int32      => i32,                       "int32",      Int,     I32,  "Signed 32-bit integer.";
            Int64      => i64,                       "int64",      Int,     I64,  "Signed 64-bit integer.";
            UInt8      => u8,                        "uint8",      Int,     U8,   "Unsigned 8-bit integer.";
            UInt16     => u16,                       "uint16",     Int,     U16,  "Unsigned 16-bit integer.";
            UInt32     => u32,                       "uint32",     Int,     U32,  "Unsigned 32-bit integer.";
            UInt64     => u64,                       "uint64",     Int,     U64,  "Unsigned 64-bit integer.";
            Float16    => half::f16,                 "float16",    Float,   F16,  "IEEE 754 half precision ([`half::f16`]).";
            BFloat16   => half::bf16,                "bfloat16",   Float,   BF16, "Brain floating point ([`half::bf16`]).";
            Float32    => f32,                       "float32",    Float,   F32,  "IEEE 754 single precision.";
            Float64    => f64,                       "float64",    Float,   F64,  "IEEE 754 double precision.";
            Complex64  => num_complex::Complex<f32>, "complex64",  Complex, C64,  "Two `float32`s: real, imaginary.";
            Complex128 => num_complex::Complex<f64>, "complex128", Complex, C128, "Two `float64`s: real, imaginary.";
        }
    };
}

/// `dispatch_dtype!(dtype, T => body)`: evaluates `body` with the type alias
/// `T` naming the Rust element type of `dtype` (`bool`, `i8`, ...,
/// `half::f16`, `num_complex::Complex<f64>`).
///
/// It expands to a `match` with one arm per dtype, each a monomorphic copy of
/// `body`: kernels dispatch once per call, and their loops see concrete types,
/// with no per-element look-up. Nest it for pairs of dtypes.
macro_rules! dispatch_dtype {
    ($dtype:expr, $t:ident => $body:expr) => {
        $crate::dtype::for_each_dtype!(($crate::dtype::dispatch_dtype_arms) [$dtype, $t, $body])
    };
}

/// The arms of [`dispatch_dtype!`], from the lines of [`for_each_dtype!`].
macro_rules! dispatch_dtype_arms {
    ([$dtype:expr, $t:ident, $body:expr] $($variant:ident => $ty:ty, $name:literal, $kind:ident, $dlpack:ident, $doc:literal;)*) => {
        match $dtype {
            $($crate::dtype::DType::$variant => {
                type $t = $ty;
                $body
            })*
        }
    };
}

pub(crate) use {dispatch_dtype, dispatch_dtype_arms, for_each_dtype};

/// What the enum, its table of facts and the [`Element`] impls are generated
/// from, once, from the lines of [`for_each_dtype!`].
macro_rules! define_dtypes {
    ([] $($variant:ident => $ty:ty, $name:literal, $kind:ident, $dlpack:ident, $doc:literal;)*) => {
        /// The element type of a tensor.
        ///
        /// Non-exhaustive: DLPack defines more types (float8 variants, say),
        /// and adding one here must not break a user's `match`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum DType {
            $(#[doc = $doc] $variant,)*
        }

        /// The number of dtypes.
        const COUNT: usize = [$(DType::$variant),*].len();

        impl DType {
            /// Every dtype, in the order the Python module lists them.
            pub const ALL: [DType; COUNT] = [$(DType::$variant),*];
        }

        /// The facts of every dtype, indexed by the variant (`dtype as usize`:
        /// the enum's variants and these entries come from the same lines, in
        /// the same order).
        const FACTS: [DTypeFacts; COUNT] = [$(DTypeFacts {
            name: $name,
            itemsize: size_of::<$ty>(),
            alignment: align_of::<$ty>(),
            kind: Kind::$kind,
            dlpack: DLDataType::$dlpack,
        }),*];

        $(
            // SAFETY: each Rust type has its dtype's size (`FACTS` takes the
            // item size from it, and a test checks it against the DLPack
            // bits), and every bit pattern of the dtype is a valid value of
            // the type, but for `bool`, whose tensors the `Element` contract
            // requires to hold 0 and 1 only.
            unsafe impl Element for $ty {
                const DTYPE: DType = DType::$variant;
            }
        )*
    };
}

for_each_dtype!((define_dtypes) []);

/// The dtypes by DLPack type code and width (`log2(bits / 8)`: 8 to 128
/// bits), for [`DType::from_dlpack`]; built from the table of facts at
/// compile time, so it cannot disagree with [`DType::to_dlpack`].
const BY_CODE_AND_WIDTH: [[Option<DType>; 5]; 7] = {
    let mut table = [[None; 5]; 7];
    let mut i = 0;
    while i < COUNT {
        let dtype = DType::ALL[i];
        let dlpack = dtype.to_dlpack();
        let width = (dlpack.bits / 8).trailing_zeros() as usize;
        table[dlpack.code.0 as usize][width] = Some(dtype);
        i += 1;
    }
    table
};

/// What one dtype is: the row of [`FACTS`] behind [`DType`]'s accessors.
struct DTypeFacts {
    name: &'static str,
    itemsize: usize,
    alignment: usize,
    kind: Kind,
    dlpack: DLDataType,
}

impl DType {
    /// This dtype's row of [`FACTS`].
    const fn facts(self) -> &'static DTypeFacts {
        &FACTS[self as usize]
    }

    /// The canonical name, shared with NumPy and PyTorch (`"float32"`).
    pub const fn name(self) -> &'static str {
        self.facts().name
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
        self.facts().itemsize
    }

    /// The alignment a Rust value of this dtype needs: its element type's
    /// (half the item size for complex numbers, a pair of floats).
    pub const fn alignment(self) -> usize {
        self.facts().alignment
    }

    /// The promotion family of this dtype.
    pub const fn kind(self) -> Kind {
        self.facts().kind
    }

    /// The dtype PyTorch infers for Python scalars of `kind`: bool, int64,
    /// float32 (torch's default float, where NumPy would take float64) and
    /// complex64.
    ///
    /// ```
    /// use dlbridge::{DType, Kind};
    ///
    /// assert_eq!(DType::default_for(Kind::Float), DType::Float32);
    /// assert_eq!(DType::default_for(Kind::Int), DType::Int64);
    /// ```
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
        self.facts().dlpack
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
        // One table look-up (this runs on every import, NumPy arrays
        // included), in the table built from the facts at compile time.
        let width = dtype.bits / 8;
        let found = if dtype.lanes == 1 && dtype.bits.is_multiple_of(8) && width.is_power_of_two() {
            BY_CODE_AND_WIDTH
                .get(usize::from(dtype.code.0))
                .and_then(|row| row.get(width.trailing_zeros() as usize))
                .copied()
                .flatten()
        } else {
            None
        };
        found.ok_or(Error::UnsupportedDLPackDType {
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
                // DLPack's type code tells signed (`kDLInt`) from unsigned.
                let signed = |d: DType| d.to_dlpack().code == DLDataTypeCode::INT;
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
                    // The narrowest signed type that holds both (`ALL`
                    // lists them narrowest first), int64 at most.
                    let size = s.itemsize().max(u.itemsize() * 2);
                    DType::ALL
                        .into_iter()
                        .find(|&d| signed(d) && d.itemsize() >= size)
                        .unwrap_or(Int64)
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn dispatch_binds_each_dtype_to_its_element_type() {
        for dtype in DType::ALL {
            assert_eq!(dispatch_dtype!(dtype, T => <T as Element>::DTYPE), dtype);
            assert_eq!(
                dispatch_dtype!(dtype, T => size_of::<T>()),
                dtype.itemsize()
            );
        }
        // Complex numbers are pairs of floats, aligned as one.
        assert_eq!(DType::Complex64.alignment(), 4);
        assert_eq!(DType::Complex128.alignment(), 8);
        assert_eq!(DType::Float16.alignment(), 2);
        assert_eq!(DType::Bool.alignment(), 1);
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
        // Around the look-up table's edges: widths it has no row or column
        // for, codes past it, and a code it has but no such width.
        for (code, bits) in [
            (0, 0),
            (0, 4),
            (0, 12),
            (2, 255),
            (1, 128),
            (3, 64),
            (7, 8),
            (255, 8),
        ] {
            let dtype = DLDataType::new(DLDataTypeCode(code), bits, 1);
            assert_eq!(
                DType::from_dlpack(dtype),
                Err(Error::UnsupportedDLPackDType {
                    code,
                    bits,
                    lanes: 1
                }),
                "code {code}, {bits} bits"
            );
        }
        // Every code and width that names a dtype, and no other, is found.
        let mut found = 0;
        for code in 0..=255u8 {
            for bits in 0..=255u8 {
                if let Ok(dtype) =
                    DType::from_dlpack(DLDataType::new(DLDataTypeCode(code), bits, 1))
                {
                    assert!(dtype.to_dlpack().matches(DLDataType::new(
                        DLDataTypeCode(code),
                        bits,
                        1
                    )));
                    found += 1;
                }
            }
        }
        assert_eq!(found, DType::ALL.len());
    }

    #[test]
    fn promotion_follows_torch() {
        use DType::*;
        let cases = [
            (Int32, Int64, Int64),
            (UInt8, Int8, Int16),
            (UInt32, Int32, Int64),
            (UInt16, Int8, Int32),
            (UInt8, Int64, Int64),
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
