//! Where a layout meets memory: the one check every tensor passes.
//!
//! The invariant the unsafe code of this crate (the copy kernels, the typed
//! guards, the exports and the buffer protocol) relies on is:
//!
//! > every byte any element of a tensor's layout addresses lies inside its
//! > storage's extent, and the tensor's element count, its size in bytes and
//! > every byte offset it reaches fit `isize`.
//!
//! It has two halves and two homes. [`Layout::new`](crate::layout::Layout::new)
//! is the only constructor of a layout and checks the arithmetic half in
//! elements; [`check`] checks the rest in bytes against the storage, and
//! `Tensor::from_parts` (`src/tensor.rs`), the only constructor of a tensor,
//! calls it. So a slip in the arithmetic of a view (`reshape.rs`, indexing,
//! the constructors, imports, unpickling, shared-memory handles) can only
//! produce an error, never a tensor that reaches outside its memory.

use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::storage::Extent;

/// Checks `layout`, of elements of `itemsize` bytes, against `extent`, the
/// bytes its storage holds around the storage's base.
///
/// Fails with [`Error::TooLarge`] when the size in bytes exceeds
/// `isize::MAX` (an empty layout has none: its element count, already
/// bounded by [`Layout::new`], is what PyTorch bounds too), and with
/// [`Error::OutOfBounds`] when an element lies outside `extent`.
#[inline]
pub(crate) fn check(layout: &Layout, itemsize: usize, extent: Extent) -> Result<()> {
    // The count and span were worked out by `Layout::new`; this is a few
    // checked multiplications, on every view made.
    let fits = layout
        .numel()
        .checked_mul(itemsize)
        .is_some_and(|bytes| isize::try_from(bytes).is_ok());
    if !fits {
        return Err(Error::TooLarge {
            shape: layout.shape().to_vec(),
        });
    }
    let Some((low, high)) = layout.span() else {
        return Ok(());
    };
    let item = itemsize as isize;
    let low_byte = low.checked_mul(item);
    let high_byte = high.checked_add(1).and_then(|end| end.checked_mul(item));
    let end = extent.start.checked_add_unsigned(extent.len);
    match (low_byte, high_byte, end) {
        (Some(low_byte), Some(high_byte), Some(end))
            if low_byte >= extent.start && high_byte <= end =>
        {
            Ok(())
        }
        _ => Err(Error::OutOfBounds {
            shape: layout.shape().to_vec(),
            strides: layout.strides().to_vec(),
            offset: layout.offset(),
            itemsize,
            low,
            high,
            start: extent.start,
            len: extent.len,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extent(start: isize, len: usize) -> Extent {
        Extent { start, len }
    }

    #[test]
    fn layouts_inside_their_storage_pass() {
        let row = Layout::contiguous(&[4]).unwrap();
        assert_eq!(check(&row, 8, extent(0, 32)), Ok(()));
        let reversed = Layout::new(&[4], &[-1], 3).unwrap();
        assert_eq!(check(&reversed, 2, extent(0, 8)), Ok(()));
        // Below the base: a storage whose extent starts before it.
        let below = Layout::new(&[2], &[-1], -1).unwrap();
        assert_eq!(check(&below, 4, extent(-8, 8)), Ok(()));
        // Empty layouts address nothing, whatever their strides and offset.
        let empty = Layout::new(&[0, 3], &[isize::MAX, -7], 99).unwrap();
        assert_eq!(check(&empty, 8, extent(0, 0)), Ok(()));
    }

    #[test]
    fn one_byte_past_either_end_is_refused() {
        let row = Layout::contiguous(&[4]).unwrap();
        assert!(matches!(
            check(&row, 8, extent(0, 31)),
            Err(Error::OutOfBounds {
                high: 3,
                len: 31,
                ..
            })
        ));
        let shifted = Layout::new(&[4], &[1], -1).unwrap();
        assert!(matches!(
            check(&shifted, 8, extent(0, 32)),
            Err(Error::OutOfBounds { low: -1, .. })
        ));
    }

    #[test]
    fn sizes_in_bytes_beyond_isize_are_refused() {
        // 2**62 float32 elements of one broadcast value: 2**64 bytes.
        let broadcast = Layout::new(&[1 << 62], &[0], 0).unwrap();
        assert!(matches!(
            check(&broadcast, 4, extent(0, 4)),
            Err(Error::TooLarge { .. })
        ));
        assert_eq!(check(&broadcast, 1, extent(0, 1)), Ok(()));
        // Empty, it has no bytes (torch makes `empty(2**62 - 1, 0)` of any
        // dtype); its count of non-empty dimensions is `Layout::new`'s bound.
        let empty = Layout::new(&[0, 1 << 60, 4], &[0, 0, 0], 0).unwrap();
        assert_eq!(check(&empty, 8, extent(0, 0)), Ok(()));
    }

    #[test]
    fn the_element_arithmetic_is_refused_before_it_can_wrap() {
        for (shape, strides, offset) in [
            (vec![0, 1 << 62, 4], vec![0, 0, 0], 0),
            (vec![1 << 31, 1 << 33], vec![1, 1], 0),
            (vec![3], vec![isize::MAX / 2 + 1], 0),
            (vec![2], vec![1], isize::MAX),
            (vec![2], vec![-1], isize::MIN),
        ] {
            assert!(
                matches!(
                    Layout::new(&shape, &strides, offset),
                    Err(Error::LayoutOverflow { .. })
                ),
                "{shape:?} {strides:?} {offset}"
            );
        }
    }
}
