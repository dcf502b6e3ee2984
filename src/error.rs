//! The one error type of the core. The Python layer maps every variant to the
//! exception a NumPy or PyTorch user would catch (`src/python/error.rs`).

use crate::dtype::DType;

/// Everything that can go wrong in dlbridge: the core's errors, and those of
/// the Python layer's conversions (nested lists) that are about values, so
/// that one enum and one mapping to Python exceptions cover them all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A dtype name that dlbridge does not know.
    #[error(
        "unknown dtype {name:?}; expected one of bool, int8..int64, uint8..uint64, float16, bfloat16, float32, float64, complex64, complex128"
    )]
    UnknownDType {
        /// The name that was asked for.
        name: String,
    },

    /// A DLPack element type with no dlbridge counterpart (vector lanes,
    /// float8, odd bit widths, opaque handles).
    #[error("unsupported DLPack dtype (code {code}, bits {bits}, lanes {lanes})")]
    UnsupportedDLPackDType {
        /// `DLDataType.code`.
        code: u8,
        /// `DLDataType.bits`.
        bits: u8,
        /// `DLDataType.lanes`.
        lanes: u16,
    },

    /// A tensor on a device other than the CPU.
    #[error(
        "unsupported device (device_type {device_type}, device_id {device_id}); dlbridge tensors live in CPU memory (device_type 1, kDLCPU, device_id 0)"
    )]
    UnsupportedDevice {
        /// `DLDevice.device_type`.
        device_type: u32,
        /// `DLDevice.device_id`.
        device_id: i32,
    },

    /// A foreign DLPack descriptor that fails validation.
    #[error("invalid DLPack tensor: {reason}")]
    InvalidDLPack {
        /// What was wrong, with the offending values.
        reason: String,
    },

    /// Foreign memory (a NumPy array, a buffer, a DLPack tensor) whose
    /// addressing fails validation.
    #[error("invalid {origin}: {reason}")]
    InvalidMemory {
        /// Where the memory came from ("DLPack tensor", "NumPy array", "buffer").
        origin: &'static str,
        /// What was wrong, with the offending values.
        reason: String,
    },

    /// A shape with more dimensions than [`MAX_NDIM`](crate::MAX_NDIM).
    #[error(
        "maximum supported dimension for a tensor is {}, found {ndim}",
        crate::layout::MAX_NDIM
    )]
    RankTooLarge {
        /// The number of dimensions asked for.
        ndim: usize,
    },

    /// An index expression whose result would have more dimensions than
    /// [`MAX_NDIM`](crate::MAX_NDIM).
    #[error(
        "number of dimensions must be within [0, {}], but is {ndim}",
        crate::layout::MAX_NDIM
    )]
    IndexRankTooLarge {
        /// The number of dimensions the index would give.
        ndim: usize,
    },

    /// A write into a tensor in which several indices reach the same memory
    /// (a broadcast or `expand()`ed view), whose result would depend on the
    /// order of the writes. The message starts as PyTorch's does for the same
    /// refusal (`at::assert_no_internal_overlap`), which users search for.
    #[error(
        "unsupported operation: more than one element of the written-to tensor (shape {shape:?}, strides {strides:?}) refers to a single memory location; write to a copy of it instead"
    )]
    OverlappingWrite {
        /// The destination's shape.
        shape: Vec<usize>,
        /// Its strides, in elements.
        strides: Vec<isize>,
    },

    /// A shape whose element count, or whose size in bytes, does not fit
    /// `isize`: every offset into a Rust allocation must (`std::ptr::offset`),
    /// and the layout arithmetic of views relies on it.
    #[error(
        "shape {shape:?} is too large: its element count or its size in bytes exceeds {}",
        isize::MAX
    )]
    TooLarge {
        /// The shape asked for.
        shape: Vec<usize>,
    },

    /// A layout whose arithmetic leaves `isize`: the element count of its
    /// non-empty dimensions, or the reach of its strides from its offset
    /// (PyTorch refuses both: "numel: integer multiplication overflow",
    /// "Stride calculation overflowed").
    #[error(
        "layout out of range: shape {shape:?} with strides {strides:?} from element offset {offset} needs counts or offsets beyond {}",
        isize::MAX
    )]
    LayoutOverflow {
        /// The shape of the layout.
        shape: Vec<usize>,
        /// Its strides, in elements.
        strides: Vec<isize>,
        /// The element offset of its first element.
        offset: isize,
    },

    /// A layout that would reach bytes outside the memory of its tensor: no
    /// view may address what its storage does not hold.
    #[error(
        "layout out of bounds: shape {shape:?} with strides {strides:?} from element offset {offset} reaches bytes [{}, {}) of {itemsize}-byte elements, outside the storage's [{start}, {})",
        *.low as i128 * *.itemsize as i128,
        (*.high as i128 + 1) * *.itemsize as i128,
        *.start as i128 + *.len as i128
    )]
    OutOfBounds {
        /// The shape of the layout.
        shape: Vec<usize>,
        /// Its strides, in elements.
        strides: Vec<isize>,
        /// The element offset of its first element.
        offset: isize,
        /// The item size, in bytes.
        itemsize: usize,
        /// The lowest element offset reached, relative to the storage's
        /// base (in elements: in bytes it may not fit `isize`).
        low: isize,
        /// The highest element offset reached.
        high: isize,
        /// The first byte of the storage, relative to its base.
        start: isize,
        /// The bytes the storage holds from `start`.
        len: usize,
    },

    /// `split`, `chunk` or `unbind` asked for more views than memory can
    /// hold the list of (checked before any view is made).
    #[error("cannot make {count} views: not enough memory for the list of them")]
    TooManyViews {
        /// The number of views asked for.
        count: usize,
    },

    /// The allocator could not provide the memory.
    #[error("cannot allocate {bytes} bytes for a tensor of shape {shape:?}")]
    OutOfMemory {
        /// The bytes asked for.
        bytes: usize,
        /// The shape being allocated.
        shape: Vec<usize>,
    },

    /// The operating system refused a shared-memory operation
    /// (`Tensor::share_memory`), or a segment received from another process
    /// is not one dlbridge can map.
    #[error("shared memory: {operation} failed: {reason}")]
    SharedMemory {
        /// What was being done (`memfd_create`, `mmap`, ...).
        operation: &'static str,
        /// Why it failed.
        reason: String,
    },

    /// A complex value with a non-zero imaginary part given for a real dtype.
    #[error(
        "cannot convert complex value {value} to real dtype {dtype} without losing its imaginary part"
    )]
    ComplexToReal {
        /// The value, as written in source.
        value: String,
        /// The real dtype it was meant for.
        dtype: DType,
    },

    /// A read-only tensor asked for as a legacy DLPack tensor, which has no
    /// flags to say so (`DLPACK_FLAG_BITMASK_READ_ONLY` came with the
    /// versioned `DLManagedTensorVersioned` of DLPack 1.0).
    #[error(
        "a read-only tensor cannot be exported as a legacy (unversioned) DLPack tensor, which has no READ_ONLY flag; export a versioned one (DLPack 1.0 or later), or a copy"
    )]
    ReadOnlyLegacyExport,

    /// The number of values does not match the shape they are meant to fill.
    #[error("{len} values cannot fill shape {shape:?} ({numel} elements)")]
    LengthMismatch {
        /// How many values were given.
        len: usize,
        /// The target shape.
        shape: Vec<usize>,
        /// How many elements the shape holds.
        numel: usize,
    },

    /// A Rust owner whose bytes, from the byte offset asked for, are fewer
    /// than the tensor needs (`Tensor::from_bytes_owner`). NumPy's
    /// `frombuffer` refuses the same with "buffer is smaller than requested
    /// size".
    #[error("the owner holds {len} bytes, too few for {needed} bytes from byte offset {offset}")]
    OwnerTooShort {
        /// The bytes the owner holds.
        len: usize,
        /// The byte offset of the first element.
        offset: usize,
        /// The bytes the tensor needs from there (wider than `usize`: a
        /// shape's byte size may not fit it).
        needed: u128,
    },

    /// An integer index outside its dimension.
    #[error("index {index} is out of bounds for dimension {axis} with size {size}")]
    IndexOutOfRange {
        /// The index as given (negative allowed).
        index: isize,
        /// The dimension indexed.
        axis: usize,
        /// That dimension's size.
        size: usize,
    },

    /// More indices than dimensions.
    #[error("too many indices for tensor of dimension {ndim} ({given} given)")]
    TooManyIndices {
        /// The tensor's rank.
        ndim: usize,
        /// The number of integer and slice indices given.
        given: usize,
    },

    /// More than one `...` in an index.
    #[error("an index can only have a single ellipsis ('...')")]
    MultipleEllipsis,

    /// A dimension order that is not a permutation of the tensor's axes.
    #[error("{order:?} is not a permutation of the {ndim} dimensions")]
    InvalidPermutation {
        /// The order asked for.
        order: Vec<usize>,
        /// The tensor's rank.
        ndim: usize,
    },

    /// A slice with step 0.
    #[error("slice step cannot be zero")]
    ZeroStep,

    /// A dimension index outside `[-ndim, ndim - 1]` (a 0-d tensor takes
    /// `-1` and `0`, as in PyTorch).
    #[error("Dimension out of range (expected to be in range of [{low}, {high}], but got {dim})", low = -(*ndim.max(&1) as isize), high = *ndim.max(&1) as isize - 1)]
    DimOutOfRange {
        /// The dimension given.
        dim: isize,
        /// The rank it was checked against.
        ndim: usize,
    },

    /// A shape that does not hold the tensor's elements, or is malformed
    /// (PyTorch's `infer_size` messages).
    #[error("{reason}")]
    InvalidShape {
        /// What is wrong, in PyTorch's words.
        reason: String,
    },

    /// A view whose shape the layout cannot be seen as without copying
    /// (PyTorch's rule for `view`; `reshape` copies instead).
    #[error(
        "view size is not compatible with input tensor's size and stride (at least one dimension spans across two contiguous subspaces). Use .reshape(...) instead."
    )]
    NotViewable {
        /// The tensor's shape.
        shape: Vec<usize>,
        /// The tensor's strides.
        strides: Vec<isize>,
        /// The shape asked for.
        target: Vec<usize>,
    },

    /// Shapes that do not broadcast (NumPy rules).
    #[error("could not broadcast shape {from:?} to shape {to:?}")]
    NotBroadcastable {
        /// The source shape.
        from: Vec<usize>,
        /// The destination shape.
        to: Vec<usize>,
    },

    /// A write to a read-only tensor.
    #[error("assignment destination is read-only")]
    ReadOnly,

    /// An integer that does not fit the target dtype.
    #[error("value {value} is out of range for dtype {dtype}")]
    Overflow {
        /// The value, as written in source.
        value: String,
        /// The dtype it was meant for.
        dtype: DType,
    },

    /// `item()` on a tensor that does not hold exactly one element.
    #[error("a tensor with {numel} elements cannot be converted to a scalar")]
    NotAScalar {
        /// The tensor's element count.
        numel: usize,
    },

    /// Nested sequences deeper than any tensor dlbridge builds (or a list
    /// that contains itself).
    #[error("too many dimensions: nested sequences deeper than {limit} levels")]
    TooManyDimensions {
        /// The deepest nesting accepted.
        limit: usize,
    },

    /// An array or tensor where nested sequences put a number.
    #[error("expected a number at dim {axis}, got a sequence or array of shape {shape:?}")]
    ArrayWhereNumberExpected {
        /// The nesting depth of the offending element.
        axis: usize,
        /// Its shape.
        shape: Vec<usize>,
    },

    /// Nested sequences whose lengths disagree.
    #[error("expected sequence of length {expected} at dim {axis} (got {got})")]
    Ragged {
        /// The dimension at which the lengths disagree.
        axis: usize,
        /// The length seen first.
        expected: usize,
        /// The length that disagrees.
        got: usize,
    },

    /// An operation that needs a contiguous tensor got a strided one.
    #[error("tensor of shape {shape:?} with strides {strides:?} is not contiguous")]
    NotContiguous {
        /// The tensor's shape.
        shape: Vec<usize>,
        /// Its strides, in elements.
        strides: Vec<isize>,
    },

    /// Memory already borrowed in a conflicting way by Rust code.
    #[error("tensor memory is already borrowed{}", if *exclusive { " (a mutable borrow needs it alone)" } else { " mutably" })]
    AlreadyBorrowed {
        /// Whether the refused borrow was exclusive (mutable).
        exclusive: bool,
    },

    /// Typed access without the interpreter's token (`as_slice`, `view`,
    /// ...) to memory that Python or a DLPack consumer can reach, whose
    /// writes no Rust borrow can keep out (see `docs/rust.md`, "Who may hold
    /// a reference").
    #[error(
        "tensor memory is shared with Python or a DLPack consumer, which may write it at any time: a Rust reference to it needs the interpreter (as_slice_py, as_slice_mut_py, view_py, view_mut_py with the `python` feature), or an owned copy (deep_copy())"
    )]
    ReachableFromPython,

    /// Typed access to memory in a shared-memory segment, which other
    /// processes map and may write at any time: no safe Rust reference to it
    /// exists.
    #[error(
        "tensor memory is in a shared-memory segment that other processes may write at any time, so no safe Rust reference to it can be given: copy the values out (deep_copy()) and in (assign()), or use the unsafe as_slice_unchecked/as_slice_mut_unchecked under their contract"
    )]
    SharedAcrossProcesses,

    /// Typed access (`&[T]`, an ndarray view, a typed extension argument)
    /// to elements whose address is not aligned for the type. Such memory
    /// is shared, copied and exported like any other (NumPy and torch share
    /// it too); only a Rust reference needs the alignment.
    #[error(
        "data pointer {address:#x} is not aligned to {align} bytes for {dtype}: a Rust reference to its elements needs that alignment; take an aligned copy first (deep_copy() in Rust, clone() in Python)"
    )]
    Misaligned {
        /// The first element's address.
        address: usize,
        /// The alignment the Rust type needs.
        align: usize,
        /// The tensor's dtype.
        dtype: DType,
    },

    /// A mutable view of a layout in which several indices reach the same
    /// element (broadcast, zero or overlapping strides).
    #[error(
        "a mutable view needs distinct elements, but shape {shape:?} with strides {strides:?} overlaps itself"
    )]
    OverlappingElements {
        /// The tensor's shape.
        shape: Vec<usize>,
        /// Its strides, in elements.
        strides: Vec<isize>,
    },

    /// A `bool` tensor holding a byte other than 0 or 1, which is not a Rust `bool`.
    #[error("bool tensor holds the byte {byte}, which is not a valid bool")]
    InvalidBool {
        /// The offending byte.
        byte: u8,
    },

    /// A view of the same bytes as a dtype of another size that the layout
    /// does not allow (PyTorch's rules for `view(dtype)`).
    #[error("cannot view {from} as {to} (different element sizes): {reason}")]
    IncompatibleView {
        /// The tensor's dtype.
        from: DType,
        /// The dtype asked for.
        to: DType,
        /// Which rule failed, with the offending size, stride or offset.
        reason: String,
    },

    /// Typed access with a Rust type that does not match the tensor's dtype.
    #[error("dtype mismatch: tensor holds {actual}, {expected} was requested")]
    DTypeMismatch {
        /// The dtype of the requested Rust type.
        expected: DType,
        /// The tensor's dtype.
        actual: DType,
    },
}

/// `Result` with dlbridge's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
