//! Shape, stride and offset arithmetic. Everything here is checked, and
//! safe but for one block: reading the strides back from the bit patterns a
//! layout stores them as ([`Layout::strides`]).
//!
//! A [`Layout`] can only be made by [`Layout::new`] (or [`Layout::contiguous`],
//! which calls it), which establishes the arithmetic half of the invariant the
//! unsafe code relies on: at most [`MAX_NDIM`] dimensions, an element count
//! (of the non-empty dimensions too) within `isize`, and, for a layout with
//! elements, every element offset within `isize`. So the methods below
//! (`numel`, `span`, contiguity) cannot overflow, and operations that derive
//! a layout from another can only fail, never wrap. The other half, that the
//! offsets lie inside the memory, is checked where a layout meets its
//! storage: `crate::bounds`.
//!
//! Strides and offsets are counted in elements, as PyTorch's `stride()` does;
//! they are signed because NumPy views (`a[::-1]`) have negative strides and
//! DLPack allows them.

use crate::error::{Error, Result};
use smallvec::SmallVec;

/// How many dimensions the scratch shapes and strides that views are worked
/// out in ([`DimVec`]) hold on the stack (PyTorch keeps five inline,
/// `C10_SIZES_AND_STRIDES_MAX_INLINE_SIZE` in c10/core/impl/SizesAndStrides.h).
pub(crate) const INLINE_NDIM: usize = 5;

/// Sizes or strides being worked out, on the stack up to [`INLINE_NDIM`]
/// dimensions; [`Layout::new`] copies them into the layout's one allocation.
pub(crate) type DimVec<T> = SmallVec<[T; INLINE_NDIM]>;

/// Where the elements of a tensor sit relative to its storage's base pointer.
///
/// Small on purpose: a tensor is moved by value through every view, so the
/// sizes and strides share one heap allocation rather than sitting inline.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    /// The sizes, then the strides (as `usize` bit patterns), `ndim` each.
    dims: Box<[usize]>,
    offset: isize,
    /// The element count, worked out (and checked) once by [`Layout::new`].
    numel: usize,
    /// The lowest and highest element offsets, likewise; meaningless (and
    /// never read) when `numel` is 0.
    low: isize,
    high: isize,
}

impl std::fmt::Debug for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layout")
            .field("shape", &self.shape())
            .field("strides", &self.strides())
            .field("offset", &self.offset)
            .field("numel", &self.numel)
            .field("span", &self.span())
            .finish()
    }
}

/// One component of an index expression, as in `t[1, ::2, ..., None]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexItem {
    /// An integer; negative counts from the end. Removes the dimension.
    Int(isize),
    /// A slice with Python's `start:stop:step` semantics.
    Slice {
        /// First index, or `None` for the natural start.
        start: Option<isize>,
        /// One past the last index, or `None` for the natural end.
        stop: Option<isize>,
        /// Step; `None` means 1. Zero is an error.
        step: Option<isize>,
    },
    /// `...`: as many full slices as needed.
    Ellipsis,
    /// `None`: a new dimension of size 1.
    NewAxis,
}

/// The most dimensions a tensor may have: NumPy's `NPY_MAXDIMS`.
///
/// One limit for every way a layout is made (constructors, indexing with
/// `None`, broadcasting, imports, unpickling), so that every tensor dlbridge
/// builds can be exported and imported again, and so that the code that walks
/// dimensions (formatting, nested lists) has a bounded depth.
pub const MAX_NDIM: usize = 64;

/// Refuses a shape of more than [`MAX_NDIM`] dimensions, as NumPy refuses to
/// build one (`ValueError`).
pub(crate) fn check_ndim(ndim: usize) -> Result<()> {
    if ndim > MAX_NDIM {
        return Err(Error::RankTooLarge { ndim });
    }
    Ok(())
}

/// Row-major strides for `shape`, in elements.
///
/// Saturates instead of overflowing: callers check the element count first
/// (see [`numel`]), and once it fits every partial product fits too.
pub(crate) fn contiguous_strides(shape: &[usize]) -> DimVec<isize> {
    let mut strides = DimVec::from_elem(0isize, shape.len());
    let mut step: isize = 1;
    for (stride, &size) in strides.iter_mut().zip(shape).rev() {
        *stride = step;
        step = step.saturating_mul(size.max(1) as isize);
    }
    strides
}

/// The strides PyTorch gives a new tensor made "like" one of `shape` and
/// `strides` (`preserve_format`, the default of `empty_like` and
/// `zeros_like` in aten/src/ATen/native/TensorFactories.cpp): the source's
/// own strides when it is non-overlapping and dense, else dense strides in
/// the source's order of strides (`infer_dense_strides` in
/// aten/src/ATen/TensorUtils.cpp). A negative stride counts by its size, as
/// NumPy's `empty_like` (order `K`) does: a new tensor's strides are never
/// negative.
pub(crate) fn preserved_strides(shape: &[usize], strides: &[isize]) -> DimVec<isize> {
    let strides: DimVec<usize> = strides.iter().map(|s| s.unsigned_abs()).collect();
    if is_non_overlapping_and_dense(shape, &strides) {
        return strides.iter().map(|&s| s as isize).collect();
    }
    let ndim = shape.len();
    // ATen's insertion sort, innermost first: a dimension moves inward past
    // those of larger stride (of larger size, for equal strides), and a
    // zero stride compares as equal, so broadcast dimensions stay in place.
    let mut order: DimVec<usize> = (0..ndim).rev().collect();
    for i in 1..ndim {
        let mut moving = i;
        for earlier in (0..i).rev() {
            let (a, b) = (order[earlier], order[moving]);
            let comparison = if strides[a] == 0 || strides[b] == 0 {
                std::cmp::Ordering::Equal
            } else {
                strides[a].cmp(&strides[b]).then(if shape[a] > shape[b] {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                })
            };
            match comparison {
                std::cmp::Ordering::Greater => {
                    order.swap(earlier, moving);
                    moving = earlier;
                }
                std::cmp::Ordering::Less => break,
                std::cmp::Ordering::Equal => {}
            }
        }
    }
    let mut dense = DimVec::from_elem(0isize, ndim);
    let mut step: isize = 1;
    for &axis in &order {
        dense[axis] = step;
        // Saturating like `contiguous_strides`: the caller's `Layout::new`
        // refuses a count that does not fit.
        if shape[axis] > 1 {
            step = step.saturating_mul(shape[axis] as isize);
        }
    }
    dense
}

/// PyTorch's `is_non_overlapping_and_dense` (c10/core/Contiguity.h): the
/// elements fill a block of memory exactly, in some order of dimensions.
fn is_non_overlapping_and_dense(shape: &[usize], strides: &[usize]) -> bool {
    let mut dims: DimVec<(usize, usize)> = shape
        .iter()
        .zip(strides)
        .filter(|&(&size, _)| size >= 2)
        .map(|(&size, &stride)| (stride, size))
        .collect();
    // ATen sorts the dimensions of size 0 and 1 last and stops at the
    // first: only the others are checked, an empty tensor's too.
    dims.sort_unstable();
    let mut required = 1usize;
    for (stride, size) in dims {
        if stride != required {
            return false;
        }
        required = required.saturating_mul(size);
    }
    true
}

/// The number of elements of `shape`, or `None` when it or any one
/// dimension overflows `isize` (a limit that keeps every element offset and
/// every stride representable; a 0 elsewhere in the shape does not lift it).
pub(crate) fn numel(shape: &[usize]) -> Option<usize> {
    if shape.iter().any(|&size| isize::try_from(size).is_err()) {
        return None;
    }
    shape
        .iter()
        .try_fold(1usize, |acc, &size| acc.checked_mul(size))
        .filter(|&n| isize::try_from(n).is_ok())
}

/// The element count of a layout and, when it has elements, the lowest and
/// highest element offsets its strides reach from `offset` (else `offset`
/// twice), in one pass with checked arithmetic; `None` when `shape` and `strides` differ in length,
/// the product of the sizes (empty ones counted as 1: the bound PyTorch's
/// `computeStorageNbytes` and NumPy's `PyArray_NewFromDescr` put on a shape
/// even when a 0 makes it empty) leaves `isize`, or a non-empty layout
/// reaches an offset outside `isize`.
#[inline]
fn checked_extent(
    shape: &[usize],
    strides: &[isize],
    offset: isize,
) -> Option<(usize, (isize, isize))> {
    if shape.len() != strides.len() {
        return None;
    }
    let (mut count, mut empty) = (1isize, false);
    // `None` once a reach overflows, which matters only if the layout turns
    // out to have elements: an empty layout's strides address nothing.
    let mut span = Some((offset, offset));
    for (&size, &stride) in shape.iter().zip(strides) {
        let size = isize::try_from(size).ok()?;
        if size == 0 {
            empty = true;
            continue;
        }
        count = count.checked_mul(size)?;
        span = span.and_then(|(low, high)| {
            let reach = (size - 1).checked_mul(stride)?;
            if reach < 0 {
                Some((low.checked_add(reach)?, high))
            } else {
                Some((low, high.checked_add(reach)?))
            }
        });
    }
    if empty {
        return Some((0, (offset, offset)));
    }
    Some((count as usize, span?))
}

/// The shape both `a` and `b` broadcast to, NumPy style.
pub(crate) fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let ndim = a.len().max(b.len());
    let dim = |shape: &[usize], i: usize| {
        (i + shape.len())
            .checked_sub(ndim)
            .map_or(1, |axis| shape[axis])
    };
    (0..ndim)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

impl Layout {
    /// The one way to make a layout: checks that `shape` has at most
    /// [`MAX_NDIM`] dimensions, one stride each, that the product of its
    /// sizes (those of the non-empty dimensions too, as PyTorch and NumPy
    /// check) fits `isize`, and, when it has elements, that the lowest and
    /// highest element offsets its strides reach from `offset` fit `isize`.
    /// An empty layout's strides and offset address nothing and are kept as
    /// they are.
    ///
    /// Fails with [`Error::RankTooLarge`] or [`Error::LayoutOverflow`].
    pub(crate) fn new(shape: &[usize], strides: &[isize], offset: isize) -> Result<Layout> {
        check_ndim(shape.len())?;
        match checked_extent(shape, strides, offset) {
            Some((numel, (low, high))) => {
                let mut dims = Vec::with_capacity(2 * shape.len());
                dims.extend_from_slice(shape);
                dims.extend(strides.iter().map(|&stride| stride as usize));
                Ok(Layout {
                    dims: dims.into_boxed_slice(),
                    offset,
                    numel,
                    low,
                    high,
                })
            }
            None => Err(Error::LayoutOverflow {
                shape: shape.to_vec(),
                strides: strides.to_vec(),
                offset,
            }),
        }
    }

    /// A row-major layout starting at element 0.
    ///
    /// `None` when the element count overflows or there are more than
    /// [`MAX_NDIM`] dimensions (check with [`check_ndim`] first for the
    /// precise error).
    pub(crate) fn contiguous(shape: &[usize]) -> Option<Layout> {
        // What `Layout::new(shape, &contiguous_strides(shape), 0)` gives (a
        // test holds it to that), in one pass into the one allocation: every
        // tensor a constructor makes starts here. For row-major strides the
        // checks of `checked_extent` come down to one: the product of the
        // sizes, each counted as at least 1, fits `isize`. Every stride is a
        // partial product of it, and the highest offset is below it.
        let ndim = shape.len();
        if ndim > MAX_NDIM {
            return None;
        }
        // Not `vec![0; n]`: a zeroed allocation is glibc's `calloc`, which
        // skips the thread cache that `malloc` serves small blocks from.
        let mut dims = Vec::with_capacity(2 * ndim);
        dims.extend_from_slice(shape);
        dims.resize(2 * ndim, 0);
        let (sizes, strides) = dims.split_at_mut(ndim);
        let (mut step, mut empty) = (1isize, false);
        for axis in (0..ndim).rev() {
            let size = isize::try_from(sizes[axis]).ok()?;
            strides[axis] = step as usize;
            empty |= size == 0;
            step = step.checked_mul(size.max(1))?;
        }
        let numel = if empty { 0 } else { step as usize };
        Some(Layout {
            dims: dims.into_boxed_slice(),
            offset: 0,
            numel,
            low: 0,
            high: if empty { 0 } else { step - 1 },
        })
    }

    /// The size of each dimension.
    #[inline]
    pub(crate) fn shape(&self) -> &[usize] {
        &self.dims[..self.ndim()]
    }

    /// The distance between neighbours along each dimension, in elements.
    #[inline]
    pub(crate) fn strides(&self) -> &[isize] {
        let strides = &self.dims[self.ndim()..];
        // SAFETY: `usize` and `isize` have the same size and alignment and
        // every bit pattern is valid for both; `Layout::new` stored the
        // strides as their bit patterns, and the slice borrows `self`.
        unsafe { std::slice::from_raw_parts(strides.as_ptr().cast::<isize>(), strides.len()) }
    }

    /// The element offset of the first element from the storage base.
    pub(crate) fn offset(&self) -> isize {
        self.offset
    }

    /// The number of dimensions.
    #[inline]
    pub(crate) fn ndim(&self) -> usize {
        self.dims.len() / 2
    }

    /// The number of elements. Fits `isize` by construction ([`Layout::new`]).
    pub(crate) fn numel(&self) -> usize {
        self.numel
    }

    /// Whether the elements are in row-major order with no gaps.
    ///
    /// Strides of size-1 dimensions are ignored (they never move), and empty
    /// tensors are contiguous, as in PyTorch.
    pub(crate) fn is_contiguous(&self) -> bool {
        if self.numel() == 0 {
            return true;
        }
        let mut expected: isize = 1;
        for (&size, &stride) in self.shape().iter().zip(self.strides()).rev() {
            if size != 1 {
                if stride != expected {
                    return false;
                }
                expected *= size as isize;
            }
        }
        true
    }

    /// Whether the elements are in column-major (Fortran) order with no gaps;
    /// size-1 dimensions are ignored and empty tensors qualify, as in NumPy.
    pub(crate) fn is_f_contiguous(&self) -> bool {
        if self.numel() == 0 {
            return true;
        }
        let mut expected: isize = 1;
        for (&size, &stride) in self.shape().iter().zip(self.strides()) {
            if size != 1 {
                if stride != expected {
                    return false;
                }
                expected *= size as isize;
            }
        }
        true
    }

    /// Whether every index reaches a distinct element (no zero strides on
    /// dimensions longer than one, no dimensions interleaving).
    ///
    /// Sufficient, not necessary: each dimension's stride, taken in order of
    /// size, must step over everything the smaller dimensions span. Every
    /// layout NumPy and PyTorch create by slicing and transposing passes.
    pub(crate) fn has_unique_elements(&self) -> bool {
        if self.numel() == 0 {
            return true;
        }
        let mut dims: SmallVec<[(usize, usize); INLINE_NDIM]> = self
            .shape()
            .iter()
            .zip(self.strides())
            .filter(|&(&size, _)| size > 1)
            .map(|(&size, &stride)| (stride.unsigned_abs(), size))
            .collect();
        dims.sort_unstable();
        let mut extent = 1usize;
        for (stride, size) in dims {
            if stride < extent {
                return false;
            }
            extent = match stride
                .checked_mul(size - 1)
                .and_then(|reach| reach.checked_add(extent))
            {
                Some(next) => next,
                None => return false,
            };
        }
        true
    }

    /// The lowest and highest element offsets any element occupies, relative
    /// to the storage base, or `None` for an empty tensor.
    #[inline]
    pub(crate) fn span(&self) -> Option<(isize, isize)> {
        (self.numel > 0).then_some((self.low, self.high))
    }

    /// Applies an index expression, returning the layout of the view.
    pub(crate) fn index(&self, items: &[IndexItem]) -> Result<Layout> {
        if items
            .iter()
            .filter(|item| matches!(item, IndexItem::Ellipsis))
            .count()
            > 1
        {
            return Err(Error::MultipleEllipsis);
        }
        let consuming = items
            .iter()
            .filter(|item| matches!(item, IndexItem::Int(_) | IndexItem::Slice { .. }))
            .count();
        if consuming > self.ndim() {
            return Err(Error::TooManyIndices {
                ndim: self.ndim(),
                given: consuming,
            });
        }
        // Checked before any work: `t[(None,) * 25000]` must not build a
        // 25000-dimension layout. NumPy raises IndexError here.
        let new_axes = items
            .iter()
            .filter(|item| matches!(item, IndexItem::NewAxis))
            .count();
        let result_ndim = self.ndim()
            - items
                .iter()
                .filter(|item| matches!(item, IndexItem::Int(_)))
                .count()
            + new_axes;
        if result_ndim > MAX_NDIM {
            return Err(Error::IndexRankTooLarge { ndim: result_ndim });
        }
        let mut shape = DimVec::with_capacity(result_ndim);
        let mut strides = DimVec::with_capacity(result_ndim);
        let mut offset = self.offset;
        let mut axis = 0;
        let take_full = |axis: usize, shape: &mut DimVec<usize>, strides: &mut DimVec<isize>| {
            shape.push(self.shape()[axis]);
            strides.push(self.strides()[axis]);
        };
        for item in items {
            match *item {
                IndexItem::Int(index) => {
                    let size = self.shape()[axis];
                    let resolved = if index < 0 {
                        index + size as isize
                    } else {
                        index
                    };
                    if resolved < 0 || resolved >= size as isize {
                        return Err(Error::IndexOutOfRange { index, axis, size });
                    }
                    // Wrapping: for an empty tensor the strides are meaningless
                    // and the offset never reaches memory; for a non-empty one
                    // the validated span bounds every result.
                    offset = offset.wrapping_add(resolved.wrapping_mul(self.strides()[axis]));
                    axis += 1;
                }
                IndexItem::Slice { start, stop, step } => {
                    let (start, len, step) = resolve_slice(start, stop, step, self.shape()[axis])?;
                    if len > 0 {
                        offset = offset.wrapping_add(start.wrapping_mul(self.strides()[axis]));
                    }
                    shape.push(len);
                    // The stride times the step, as PyTorch and NumPy give it,
                    // also for a dimension of length 0 or 1, which never
                    // moves: there, a product that overflows keeps the stride
                    // instead (PyTorch's would wrap).
                    strides.push(if len > 1 {
                        self.strides()[axis].wrapping_mul(step)
                    } else {
                        self.strides()[axis]
                            .checked_mul(step)
                            .unwrap_or(self.strides()[axis])
                    });
                    axis += 1;
                }
                IndexItem::Ellipsis => {
                    let skipped = self.ndim() - consuming;
                    for _ in 0..skipped {
                        take_full(axis, &mut shape, &mut strides);
                        axis += 1;
                    }
                }
                IndexItem::NewAxis => {
                    shape.push(1);
                    strides.push(0);
                }
            }
        }
        while axis < self.ndim() {
            take_full(axis, &mut shape, &mut strides);
            axis += 1;
        }
        Layout::new(&shape, &strides, offset)
    }

    /// The same elements with dimensions reordered: dimension `i` of the
    /// result is dimension `order[i]` of this layout. `order` must be a
    /// permutation of `0..ndim`.
    pub(crate) fn permute(&self, order: &[usize]) -> Result<Layout> {
        // One bit per dimension: a layout has at most `MAX_NDIM` (64).
        const _: () = assert!(MAX_NDIM <= u64::BITS as usize);
        let mut seen = 0u64;
        let valid = order.len() == self.ndim()
            && order.iter().all(|&axis| {
                let bit = 1u64.checked_shl(axis as u32).unwrap_or(0);
                let fresh = axis < self.ndim() && seen & bit == 0;
                seen |= bit;
                fresh
            });
        if !valid {
            return Err(Error::InvalidPermutation {
                order: order.to_vec(),
                ndim: self.ndim(),
            });
        }
        Layout::new(
            &order
                .iter()
                .map(|&axis| self.shape()[axis])
                .collect::<DimVec<_>>(),
            &order
                .iter()
                .map(|&axis| self.strides()[axis])
                .collect::<DimVec<_>>(),
            self.offset,
        )
    }

    /// This layout seen with shape `target`, NumPy broadcasting rules: new
    /// leading dimensions and size-1 dimensions get stride 0.
    pub(crate) fn broadcast_to(&self, target: &[usize]) -> Result<Layout> {
        let error = || Error::NotBroadcastable {
            from: self.shape().to_vec(),
            to: target.to_vec(),
        };
        let lead = target.len().checked_sub(self.ndim()).ok_or_else(error)?;
        check_ndim(target.len())?;
        if numel(target).is_none() {
            // Every layout keeps its element count within `isize`: the unsafe
            // code (and ndarray) relies on it.
            return Err(Error::TooLarge {
                shape: target.to_vec(),
            });
        }
        let mut strides = DimVec::from_elem(0isize, target.len());
        for (axis, (&size, &stride)) in self.shape().iter().zip(self.strides()).enumerate() {
            let want = target[lead + axis];
            strides[lead + axis] = match size {
                _ if size == want => stride,
                1 => 0,
                _ => return Err(error()),
            };
        }
        Layout::new(target, &strides, self.offset)
    }
}

/// Resolves a Python slice against a dimension of `size`, as CPython's
/// `PySlice_AdjustIndices` does: returns `(start, length, step)`.
fn resolve_slice(
    start: Option<isize>,
    stop: Option<isize>,
    step: Option<isize>,
    size: usize,
) -> Result<(isize, usize, isize)> {
    // CPython clamps the step to [-PY_SSIZE_T_MAX, PY_SSIZE_T_MAX], so that
    // negating it cannot overflow.
    let step = step.unwrap_or(1).max(-isize::MAX);
    if step == 0 {
        return Err(Error::ZeroStep);
    }
    let size = size as isize;
    let (lower, upper) = if step > 0 { (0, size) } else { (-1, size - 1) };
    let clamp = |value: Option<isize>, default: isize| match value {
        None => default,
        Some(v) if v < 0 => (v.saturating_add(size)).max(lower),
        Some(v) => v.min(upper),
    };
    let start = clamp(start, if step > 0 { lower } else { upper });
    let stop = clamp(stop, if step > 0 { upper } else { lower });
    let len = if step > 0 && start < stop {
        (stop - start - 1) / step + 1
    } else if step < 0 && stop < start {
        (start - stop - 1) / (-step) + 1
    } else {
        0
    };
    Ok((start, len as usize, step))
}

#[cfg(test)]
mod tests {

    #[test]
    fn contiguous_is_new_with_row_major_strides() {
        let big = isize::MAX as usize;
        let shapes: &[&[usize]] = &[
            &[],
            &[0],
            &[1],
            &[16],
            &[2, 3, 4],
            &[3, 0, 5],
            &[0, big],
            &[big, 0],
            &[big],
            &[big, 1],
            &[big, 2],
            &[2, big / 2],
            &[2, big / 2 + 1],
            &[usize::MAX],
            &[0, usize::MAX],
            &[1 << 31, 1 << 31],
            &[1 << 32, 1 << 31],
            &[1 << 32, 1 << 31, 0],
            &[1; MAX_NDIM],
            &[1; MAX_NDIM + 1],
        ];
        for shape in shapes {
            let expected = check_ndim(shape.len())
                .ok()
                .and_then(|()| Layout::new(shape, &contiguous_strides(shape), 0).ok());
            let got = Layout::contiguous(shape);
            assert_eq!(got, expected, "{shape:?}");
            if let Some(layout) = got {
                assert_eq!(layout.span(), expected.unwrap().span(), "{shape:?}");
            }
        }
    }
    use super::*;

    fn slice(start: Option<isize>, stop: Option<isize>, step: Option<isize>) -> IndexItem {
        IndexItem::Slice { start, stop, step }
    }

    #[test]
    fn contiguous_strides_are_row_major() {
        assert_eq!(contiguous_strides(&[2, 3, 4]).as_slice(), [12, 4, 1]);
        assert!(contiguous_strides(&[]).is_empty());
        assert_eq!(contiguous_strides(&[0, 3]).as_slice(), [3, 1]);
    }

    #[test]
    fn numel_detects_overflow() {
        assert_eq!(numel(&[2, 3]), Some(6));
        assert_eq!(numel(&[]), Some(1));
        assert_eq!(numel(&[usize::MAX, 2]), None);
        assert_eq!(numel(&[1 << 40, 1 << 40]), None);
    }

    #[test]
    fn contiguity_ignores_size_one_strides_and_empty_tensors() {
        // torch exports x[::3][:1] as shape [1] stride [3]: still contiguous.
        assert!(Layout::new(&[1], &[3], 0).unwrap().is_contiguous());
        assert!(Layout::new(&[2, 1], &[1, 7], 0).unwrap().is_contiguous());
        assert!(!Layout::new(&[2, 2], &[1, 2], 0).unwrap().is_contiguous());
        assert!(Layout::new(&[0, 5], &[99, 3], 0).unwrap().is_contiguous());
        assert!(!Layout::new(&[3], &[-1], 2).unwrap().is_contiguous());
    }

    #[test]
    fn unique_elements_detects_broadcast_and_interleaving() {
        assert!(Layout::contiguous(&[3, 4]).unwrap().has_unique_elements());
        assert!(
            Layout::new(&[4, 3], &[1, 4], 0)
                .unwrap()
                .has_unique_elements()
        );
        assert!(Layout::new(&[3], &[-2], 4).unwrap().has_unique_elements());
        assert!(
            !Layout::new(&[2, 3], &[0, 1], 0)
                .unwrap()
                .has_unique_elements()
        );
        assert!(
            !Layout::new(&[3, 3], &[1, 1], 0)
                .unwrap()
                .has_unique_elements()
        );
        assert!(
            Layout::new(&[1, 3], &[0, 1], 0)
                .unwrap()
                .has_unique_elements()
        );
    }

    #[test]
    fn span_covers_negative_and_zero_strides() {
        let reversed = Layout::new(&[4], &[-1], 3).unwrap();
        assert_eq!(reversed.span(), Some((0, 3)));
        let broadcast = Layout::new(&[5, 3], &[0, 1], 0).unwrap();
        assert_eq!(broadcast.span(), Some((0, 2)));
        assert_eq!(Layout::new(&[0], &[1], 0).unwrap().span(), None);
    }

    #[test]
    fn slices_follow_python_semantics() {
        let base = Layout::contiguous(&[10]).unwrap();
        let cases: [(IndexItem, usize, isize, isize); 7] = [
            (slice(Some(2), Some(8), Some(3)), 2, 3, 2),
            (slice(None, None, Some(-1)), 10, -1, 9),
            (slice(None, None, Some(-3)), 4, -3, 9),
            (slice(Some(-3), None, None), 3, 1, 7),
            (slice(Some(20), None, None), 0, 1, 0),
            (slice(Some(-20), Some(3), None), 3, 1, 0),
            (slice(Some(8), Some(2), Some(-2)), 3, -2, 8),
        ];
        for (item, len, stride, offset) in cases {
            let view = base.index(&[item]).unwrap();
            assert_eq!(view.shape(), &[len], "{item:?}");
            assert_eq!(view.strides(), &[stride], "{item:?}");
            if len > 0 {
                assert_eq!(view.offset(), offset, "{item:?}");
            }
        }
        assert_eq!(
            base.index(&[slice(None, None, Some(0))]),
            Err(Error::ZeroStep)
        );
    }

    #[test]
    fn integer_ellipsis_and_newaxis_indexing() {
        let base = Layout::contiguous(&[2, 3, 4]).unwrap();
        let view = base.index(&[IndexItem::Int(-1)]).unwrap();
        assert_eq!((view.shape(), view.offset()), (&[3, 4][..], 12));
        let view = base
            .index(&[IndexItem::Ellipsis, IndexItem::Int(1)])
            .unwrap();
        assert_eq!((view.shape(), view.strides()), (&[2, 3][..], &[12, 4][..]));
        let view = base
            .index(&[IndexItem::NewAxis, IndexItem::Int(0), IndexItem::Ellipsis])
            .unwrap();
        assert_eq!(
            (view.shape(), view.strides()),
            (&[1, 3, 4][..], &[0, 4, 1][..])
        );
        let scalar = base
            .index(&[IndexItem::Int(1), IndexItem::Int(2), IndexItem::Int(3)])
            .unwrap();
        assert_eq!((scalar.ndim(), scalar.offset()), (0, 23));
    }

    #[test]
    fn indexing_errors_name_the_offending_value() {
        let base = Layout::contiguous(&[3]).unwrap();
        assert_eq!(
            base.index(&[IndexItem::Int(3)]),
            Err(Error::IndexOutOfRange {
                index: 3,
                axis: 0,
                size: 3
            })
        );
        assert!(base.index(&[IndexItem::Int(-4)]).is_err());
        assert_eq!(
            base.index(&[IndexItem::Int(0), IndexItem::Int(0)]),
            Err(Error::TooManyIndices { ndim: 1, given: 2 })
        );
        assert_eq!(
            base.index(&[IndexItem::Ellipsis, IndexItem::Ellipsis]),
            Err(Error::MultipleEllipsis)
        );
    }

    #[test]
    fn permutations_reorder_shape_and_strides() {
        let base = Layout::contiguous(&[2, 3, 4]).unwrap();
        let moved = base.permute(&[2, 0, 1]).unwrap();
        assert_eq!(
            (moved.shape(), moved.strides()),
            (&[4, 2, 3][..], &[1, 12, 4][..])
        );
        assert!(base.permute(&[0, 0, 1]).is_err());
        assert!(base.permute(&[0, 1]).is_err());
        assert!(base.permute(&[0, 1, 3]).is_err());
    }

    #[test]
    fn broadcasting_refuses_element_counts_that_overflow() {
        let one = Layout::contiguous(&[1]).unwrap();
        for shape in [[1usize << 32, 1 << 32], [(1 << 63) + 1, 2]] {
            let error = one.broadcast_to(&shape).unwrap_err();
            assert_eq!(
                error,
                Error::TooLarge {
                    shape: shape.to_vec()
                }
            );
            // The message names the shape and the limit it passes.
            let message = error.to_string();
            assert!(message.contains(&format!("{shape:?}")), "{message}");
            assert!(message.contains(&isize::MAX.to_string()), "{message}");
        }
    }

    #[test]
    fn broadcasting() {
        assert_eq!(broadcast_shapes(&[3, 1], &[4]), Some(vec![3, 4]));
        assert_eq!(broadcast_shapes(&[2], &[3]), None);
        let row = Layout::contiguous(&[3]).unwrap();
        let wide = row.broadcast_to(&[2, 3]).unwrap();
        assert_eq!(wide.strides(), &[0, 1]);
        assert!(row.broadcast_to(&[3, 2]).is_err());
        assert!(row.broadcast_to(&[]).is_err());
    }
}
