//! The one gate foreign memory passes before dlbridge addresses it.
//!
//! Memory enters dlbridge in several ways: DLPack capsules and the DLPack C
//! exchange API (`dlpack.rs`), NumPy arrays read field by field and the
//! buffer protocol (`src/python/`). Each describes the memory the same way, a
//! data pointer, an offset, a shape and strides, and each description is
//! untrusted until [`validate`] has checked it. Nothing here can prove that
//! the memory is really there (no protocol carries allocation bounds); it
//! proves that every address a layout reaches is computed without overflow
//! or wrap-around and is non-NULL, so the copy kernels can do plain pointer
//! arithmetic on it.
//!
//! Alignment is not required: DLPack places none on CPU data pointers, and
//! NumPy and torch share a float64 array at an odd address. Everything that
//! reads or writes elements does so with unaligned accesses
//! (`read_unaligned`, `write_unaligned`, byte copies); only typed Rust access
//! (`&[T]`, ndarray views, typed extension arguments) needs alignment, and it
//! checks it (`Error::Misaligned`).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::layout::{self, DimVec, Layout, MAX_NDIM};
use std::ptr::NonNull;

/// How a foreign description gives its strides.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Strides<'a> {
    /// None given: row-major (DLPack's NULL strides).
    RowMajor,
    /// In elements, as DLPack gives them.
    Elements(&'a [isize]),
    /// In bytes, as NumPy and the buffer protocol give them.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    Bytes(&'a [isize]),
}

/// An untrusted description of foreign memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ForeignMemory<'a> {
    /// Where it came from, for error messages: "DLPack tensor", "NumPy
    /// array", "buffer".
    pub origin: &'static str,
    /// The data pointer.
    pub data: usize,
    /// Bytes from `data` to the first element.
    pub byte_offset: u64,
    /// The size of each dimension.
    pub shape: &'a [usize],
    /// The strides, one per dimension (checked).
    pub strides: Strides<'a>,
    /// The element type.
    pub dtype: DType,
}

/// Memory that passed [`validate`]: the address of its first element and a
/// layout (offset 0 from that address) whose every element lies in the
/// address space without wrapping.
#[derive(Debug)]
pub(crate) struct Validated {
    /// The first element (`data + byte_offset`); dangling but non-NULL for
    /// an empty tensor.
    pub base: NonNull<u8>,
    /// The layout, in elements from `base`.
    pub layout: Layout,
}

/// Checks a foreign description of memory; see the module documentation.
///
/// Refused, with [`Error::InvalidMemory`]: more than [`MAX_NDIM`]
/// dimensions, strides that do not match the shape, byte strides that are
/// not a multiple of the item size (on dimensions longer than 1, the only
/// ones whose strides are used: NumPy allows anything on length-1
/// dimensions), a NULL data pointer for a non-empty tensor, strides or an
/// offset whose reach overflows or wraps the address space, and an element
/// count or a size in bytes past `isize`. A first element misaligned for its
/// dtype is accepted (module documentation).
pub(crate) fn validate(memory: ForeignMemory) -> Result<Validated> {
    let ForeignMemory {
        origin,
        data,
        byte_offset,
        shape,
        strides,
        dtype,
    } = memory;
    let invalid = |reason: String| Error::InvalidMemory { origin, reason };
    if shape.len() > MAX_NDIM {
        return Err(invalid(format!(
            "ndim {} exceeds the {MAX_NDIM} dimensions dlbridge accepts",
            shape.len()
        )));
    }
    let itemsize = dtype.itemsize() as isize;
    // Strides worked out here (row-major, or converted from bytes) live in
    // `converted`; strides given in elements are used where they are.
    let mut converted = DimVec::new();
    let strides: &[isize] = match strides {
        Strides::RowMajor => {
            converted = layout::contiguous_strides(shape);
            &converted
        }
        Strides::Elements(strides) => strides,
        Strides::Bytes(bytes) => {
            if bytes.len() != shape.len() {
                return Err(invalid(format!(
                    "{} strides for {} dimensions",
                    bytes.len(),
                    shape.len()
                )));
            }
            for (axis, (&stride, &size)) in bytes.iter().zip(shape).enumerate() {
                converted.push(match size {
                    _ if stride % itemsize == 0 => stride / itemsize,
                    // A length-1 dimension never moves; NumPy allows any
                    // stride there (numpy/_core/tests/test_dlpack.py,
                    // test_size1dims_arrays), and its `__dlpack__` exports
                    // the row-major one instead.
                    0 | 1 => layout::contiguous_strides(shape)[axis],
                    _ => {
                        return Err(invalid(format!(
                            "strides {bytes:?} (in bytes) are not a multiple of the item size {itemsize}"
                        )));
                    }
                });
            }
            &converted
        }
    };
    if strides.len() != shape.len() {
        return Err(invalid(format!(
            "{} strides for {} dimensions",
            strides.len(),
            shape.len()
        )));
    }
    // An empty tensor's strides are never used to reach memory and are not
    // validated, so they are replaced rather than carried into view
    // arithmetic. Other strides are kept as given, length-1 ones included,
    // as torch's `from_dlpack` keeps them.
    let row_major;
    let strides = if shape.contains(&0) {
        row_major = layout::contiguous_strides(shape);
        &row_major
    } else {
        strides
    };
    // The layout's arithmetic, checked by its one constructor in one pass
    // (count, and the lowest and highest element offsets), and its size in
    // bytes, which `Tensor::from_parts` checks again (`crate::bounds`):
    // worded here for an import.
    let layout = Layout::new(shape, strides, 0).map_err(|error| invalid(error.to_string()))?;
    if layout
        .numel()
        .checked_mul(dtype.itemsize())
        .is_none_or(|bytes| isize::try_from(bytes).is_err())
    {
        return Err(invalid(format!(
            "shape {:?} of {dtype} needs more than {} bytes",
            layout.shape(),
            isize::MAX
        )));
    }
    let base = first_element_address(data, byte_offset, &layout, dtype).map_err(invalid)?;
    Ok(Validated { base, layout })
}

/// Checks a foreign tensor's addressing and returns the address of its first
/// element (`data + byte_offset`), or why it is refused.
///
/// DLPack carries no allocation bounds, so this cannot prove the memory is
/// there; it proves the arithmetic every later access does cannot overflow or
/// wrap, and that a non-empty tensor has a data pointer.
fn first_element_address(
    data: usize,
    byte_offset: u64,
    layout: &Layout,
    dtype: DType,
) -> std::result::Result<NonNull<u8>, String> {
    let offset = usize::try_from(byte_offset)
        .ok()
        .filter(|&offset| isize::try_from(offset).is_ok())
        .ok_or_else(|| format!("byte_offset {byte_offset} is out of range"))?;
    let Some((low, high)) = layout.span() else {
        // Zero-size tensors may carry a NULL data pointer (DLPack 1.2); no
        // element is ever read, so any non-null address will do.
        let address = data.wrapping_add(offset);
        return Ok(NonNull::new(address as *mut u8).unwrap_or(NonNull::dangling()));
    };
    let (shape, strides) = (layout.shape(), layout.strides());
    if data == 0 {
        return Err(format!(
            "NULL data pointer for a non-empty tensor of shape {shape:?}"
        ));
    }
    // The layout starts at element 0, so its span is the reach of its
    // strides, in elements; in bytes it may overflow.
    let itemsize = dtype.itemsize() as isize;
    let overflow = || format!("strides {strides:?} overflow for shape {shape:?}");
    let low = low.checked_mul(itemsize).ok_or_else(overflow)?;
    let high = high.checked_mul(itemsize).ok_or_else(overflow)?;
    let first = data
        .checked_add(offset)
        .ok_or_else(|| format!("data + byte_offset {byte_offset} wraps"))?;
    let lowest = first.checked_add_signed(low);
    let highest = high
        .checked_add(itemsize)
        .and_then(|end| first.checked_add_signed(end));
    if lowest.is_none() || highest.is_none_or(|end| end > isize::MAX as usize) {
        return Err(format!(
            "shape {shape:?} with strides {strides:?} from address {first:#x} wraps the address space"
        ));
    }
    Ok(NonNull::new(first as *mut u8).expect("first is at least data, which is non-zero"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory<'a>(
        data: usize,
        byte_offset: u64,
        shape: &'a [usize],
        strides: Strides<'a>,
    ) -> ForeignMemory<'a> {
        ForeignMemory {
            origin: "test memory",
            data,
            byte_offset,
            shape,
            strides,
            dtype: DType::Int64,
        }
    }

    #[test]
    fn address_checks_refuse_null_and_wrapping_layouts() {
        let address = |data, offset, shape: &[usize], strides: &[isize]| {
            let layout = Layout::new(shape, strides, 0).unwrap();
            first_element_address(data, offset, &layout, DType::Int64)
        };
        assert_eq!(
            address(0x1000, 8, &[3], &[1]).unwrap().as_ptr() as usize,
            0x1008
        );
        assert!(address(0, 0, &[3], &[1]).is_err());
        // Empty tensors may have NULL data.
        assert!(address(0, 0, &[0], &[1]).is_ok());
        // A negative stride that reaches below address zero.
        assert!(address(0x10, 0, &[4], &[-1]).is_err());
        // Element offsets that fit, bytes that do not.
        assert!(address(0x1000, 0, &[2], &[isize::MAX / 4]).is_err());
        assert!(address(0x1000, u64::MAX, &[1], &[1]).is_err());
        // Element offsets that do not fit are the layout's to refuse.
        let huge = validate(memory(0x1000, 0, &[2], Strides::Elements(&[isize::MAX])));
        assert!(matches!(huge, Err(Error::InvalidMemory { .. })));
    }

    #[test]
    fn byte_strides_must_divide_except_on_length_one_dimensions() {
        let odd = validate(memory(0x1000, 0, &[2, 3], Strides::Bytes(&[24, 4])));
        assert!(matches!(odd, Err(Error::InvalidMemory { .. })));
        let size_one = validate(memory(0x1000, 0, &[1, 3], Strides::Bytes(&[3, 8]))).unwrap();
        assert_eq!(size_one.layout.strides(), &[3, 1]);
        let kept = validate(memory(0x1000, 0, &[1, 3], Strides::Elements(&[7, 1]))).unwrap();
        assert_eq!(kept.layout.strides(), &[7, 1]);
    }

    #[test]
    fn rank_and_stride_count_are_checked_and_alignment_is_not() {
        let deep = validate(memory(0x1000, 0, &[1; 65], Strides::RowMajor));
        assert!(matches!(deep, Err(Error::InvalidMemory { .. })));
        // Misaligned memory is shared, as NumPy and torch share it.
        let misaligned = validate(memory(0x1001, 0, &[2], Strides::RowMajor)).unwrap();
        assert_eq!(misaligned.base.as_ptr() as usize, 0x1001);
        let mismatched = validate(memory(0x1000, 0, &[2, 2], Strides::Elements(&[1])));
        assert!(matches!(mismatched, Err(Error::InvalidMemory { .. })));
        // A reversed view whose first element sits past the data pointer.
        let reversed = validate(memory(0x1000, 16, &[2, 2], Strides::Elements(&[-2, 1])));
        assert_eq!(reversed.unwrap().base.as_ptr() as usize, 0x1010);
    }
}
