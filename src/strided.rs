//! Views addressed by explicit strides and storage offsets, and views of the
//! same bytes as another dtype: PyTorch's `storage_offset`, `as_strided` and
//! `view(dtype)`, and the storage copy behind `copy.deepcopy`.
//!
//! None of these needs a check of its own to be sound: every layout they
//! make goes through [`Layout::new`] and `Tensor::from_parts`, whose bounds
//! check against the storage (`crate::bounds`) is what makes `as_strided`
//! safe where PyTorch's `as_strided` trusts its caller less than it seems
//! (it checks the storage size, as this does, but not on every backend).
//! What is here is PyTorch's *semantics*: which calls it accepts, and the
//! words of its `RuntimeError`s.

use crate::borrow::Participation;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::layout::{DimVec, Layout};
use crate::storage::Extent;
use crate::tensor::Tensor;
use std::sync::Arc;

/// The placement a storage copy keeps from its source, modulo: the largest
/// item size (complex128), so that element offsets stay whole numbers in
/// the copy for every dtype.
// Only the Python layer's `copy.deepcopy` copies storages.
#[cfg_attr(not(feature = "python"), allow(dead_code))]
const COPY_PLACEMENT: isize = 16;

impl Tensor {
    /// The element, counted from the storage's base, that
    /// [`Tensor::storage_offset`] counts from: the first whole element of
    /// the bytes the storage holds (its extent can start below the base,
    /// where an imported view has negative strides).
    fn storage_origin(&self) -> isize {
        let item = self.itemsize() as isize;
        let start = self.storage().extent().start;
        // The smallest `k` with `k * item >= start`, without overflow:
        // `start` is a byte offset that fits `isize`.
        start.div_euclid(item) + isize::from(start.rem_euclid(item) != 0)
    }

    /// How many elements of this tensor's dtype lie between the start of
    /// its storage and its first element, as PyTorch's `storage_offset()`.
    /// The start is the lowest byte of the memory the storage holds (for a
    /// tensor imported with negative strides, below its first element), so
    /// the offset is never negative.
    ///
    /// ```
    /// use dlbridge::{IndexItem, Tensor};
    ///
    /// let t = Tensor::from_vec((0..12).collect::<Vec<i32>>(), &[3, 4])?;
    /// assert_eq!(t.storage_offset(), 0);
    /// let row = t.index(&[IndexItem::Int(1)])?;
    /// assert_eq!(row.storage_offset(), 4);
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn storage_offset(&self) -> isize {
        // Both are element offsets of one valid layout's storage: the
        // difference fits.
        self.layout().offset() - self.storage_origin()
    }

    /// A view of this tensor's storage with the given sizes and strides (in
    /// elements, non-negative), starting `storage_offset` elements from the
    /// storage's start ([`Tensor::storage_offset`]; `None` keeps this
    /// tensor's), as PyTorch's `as_strided`.
    ///
    /// Any layout inside the storage is accepted, overlapping ones included
    /// (they cannot be written through: [`Error::OverlappingElements`]).
    /// Fails with [`Error::InvalidShape`] in PyTorch's words for mismatched
    /// lengths, negative sizes, strides or offsets, and when the layout
    /// reaches outside the storage or its arithmetic overflows.
    ///
    /// ```
    /// use dlbridge::Tensor;
    ///
    /// let t = Tensor::from_vec((0..9).collect::<Vec<i64>>(), &[9])?;
    /// let windows = t.as_strided(&[3, 3], &[3, 1], Some(0))?;
    /// assert_eq!(windows.shape(), &[3, 3]);
    /// let diagonal = t.as_strided(&[3], &[4], Some(0))?;
    /// assert_eq!(&*diagonal.contiguous()?.as_slice::<i64>()?, &[0, 4, 8]);
    /// assert!(t.as_strided(&[3], &[4], Some(1)).is_err()); // element 9 is past the end
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn as_strided(
        &self,
        size: &[isize],
        stride: &[isize],
        storage_offset: Option<isize>,
    ) -> Result<Tensor> {
        let storage_offset = storage_offset.unwrap_or_else(|| self.storage_offset());
        let refuse = |reason: String| Err(Error::InvalidShape { reason });
        // PyTorch's order (`setStrided` in aten/src/ATen/native/TensorShape.cpp):
        // the lengths, the strides' signs, the storage's bounds, the offset.
        if size.len() != stride.len() {
            return refuse(format!(
                "mismatch in length of strides and shape: size {size:?} has {} dimensions, stride {stride:?} has {}",
                size.len(),
                stride.len()
            ));
        }
        if stride.iter().any(|&s| s < 0) {
            return refuse(format!(
                "as_strided: Negative strides are not supported at the moment, got strides: {stride:?}"
            ));
        }
        if size.iter().any(|&s| s < 0) {
            return refuse(format!(
                "Storage size calculation overflowed with sizes={size:?} and strides={stride:?}"
            ));
        }
        if storage_offset < 0 {
            return refuse(format!("Tensor: invalid storage offset {storage_offset}"));
        }
        let out_of_bounds = || Error::InvalidShape {
            reason: format!(
                "as_strided: sizes {size:?}, strides {stride:?}, storage offset {storage_offset} and itemsize {} reach outside the storage of {} bytes",
                self.itemsize(),
                self.storage().extent().len
            ),
        };
        let shape: DimVec<usize> = size.iter().map(|&s| s as usize).collect();
        let offset = self
            .storage_origin()
            .checked_add(storage_offset)
            .ok_or_else(out_of_bounds)?;
        let layout = Layout::new(&shape, stride, offset).map_err(|error| match error {
            Error::RankTooLarge { .. } => error,
            _ => out_of_bounds(),
        })?;
        self.with_layout(layout).map_err(|_| out_of_bounds())
    }

    /// The same memory seen as elements of another dtype (the bits are
    /// reinterpreted, not converted), as PyTorch's `view(dtype)`.
    ///
    /// With the same item size any layout can be reinterpreted. Otherwise,
    /// PyTorch's rules (`view_dtype` in aten/src/ATen/native/TensorConversions.cpp):
    /// the tensor must have a dimension, and its last one stride 1; that
    /// dimension grows or shrinks by the ratio of the item sizes, and the
    /// other strides scale with it. Going to a larger item, the last size,
    /// the storage offset and every other stride must divide by the ratio.
    /// Fails with [`Error::IncompatibleView`] saying which rule failed.
    ///
    /// ```
    /// use dlbridge::{DType, Error, Tensor};
    ///
    /// let t = Tensor::from_vec(vec![1.0f32, -2.0], &[2])?;
    /// let bits = t.reinterpret(DType::UInt32)?;
    /// assert_eq!(bits.data_ptr(), t.data_ptr());
    /// assert_eq!(&*bits.as_slice::<u32>()?, &[1.0f32.to_bits(), (-2.0f32).to_bits()]);
    ///
    /// // Two float32 are one complex64, and eight bytes.
    /// assert_eq!(t.reinterpret(DType::Complex64)?.shape(), &[1]);
    /// assert_eq!(t.reinterpret(DType::UInt8)?.shape(), &[8]);
    /// // Three are not a whole float64.
    /// let three = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3])?;
    /// assert!(matches!(three.reinterpret(DType::Float64), Err(Error::IncompatibleView { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn reinterpret(&self, dtype: DType) -> Result<Tensor> {
        let (from, to) = (self.itemsize(), dtype.itemsize());
        if from == to {
            return Tensor::from_parts(
                Arc::clone(self.storage()),
                self.layout().clone(),
                dtype,
                self.is_readonly(),
            );
        }
        let refuse = |reason: String| {
            Err(Error::IncompatibleView {
                from: self.dtype(),
                to: dtype,
                reason,
            })
        };
        let ndim = self.ndim();
        if ndim == 0 {
            return refuse("self.dim() cannot be 0".into());
        }
        let last = ndim - 1;
        let (mut shape, mut strides) = (
            DimVec::from_slice(self.shape()),
            DimVec::from_slice(self.strides()),
        );
        let mut offset = self.layout().offset();
        let overflow = || Error::LayoutOverflow {
            shape: self.shape().to_vec(),
            strides: self.strides().to_vec(),
            offset: self.layout().offset(),
        };
        if from > to {
            let ratio = (from / to) as isize;
            if strides[last] != 1 {
                return refuse(format!(
                    "self.stride(-1) must be 1, but got {}",
                    strides[last]
                ));
            }
            for stride in &mut strides[..last] {
                *stride = stride.checked_mul(ratio).ok_or_else(overflow)?;
            }
            shape[last] = shape[last]
                .checked_mul(ratio as usize)
                .ok_or_else(overflow)?;
            offset = offset.checked_mul(ratio).ok_or_else(overflow)?;
        } else {
            let ratio = (to / from) as isize;
            if shape[last] % ratio as usize != 0 {
                return refuse(format!(
                    "self.size(-1) must be divisible by {ratio}, but got {}",
                    shape[last]
                ));
            }
            // PyTorch's rule is on the offset from the storage's start; the
            // offset from the base must divide too, for the new element
            // offsets to be whole (they differ only for imports whose memory
            // starts below the first element at an odd place).
            let storage_offset = self.storage_offset();
            if storage_offset % ratio != 0 || offset % ratio != 0 {
                return refuse(format!(
                    "self.storage_offset() must be divisible by {ratio}, but got {storage_offset}"
                ));
            }
            if strides[last] != 1 {
                return refuse(format!(
                    "self.stride(-1) must be 1, but got {}",
                    strides[last]
                ));
            }
            for (axis, stride) in strides[..last].iter_mut().enumerate() {
                if *stride % ratio != 0 {
                    return refuse(format!(
                        "self.stride({axis}) must be divisible by {ratio}, but got {stride}"
                    ));
                }
                *stride /= ratio;
            }
            shape[last] /= ratio as usize;
            offset /= ratio;
        }
        Tensor::from_parts(
            Arc::clone(self.storage()),
            Layout::new(&shape, &strides, offset)?,
            dtype,
            self.is_readonly(),
        )
    }

    /// A new writable tensor of zeros of this tensor's shape, in `dtype`,
    /// laid out as PyTorch lays out `zeros_like` and `empty_like`
    /// (`preserve_format`): with this tensor's strides when its elements
    /// fill their memory exactly (a transposed or permuted tensor), else
    /// densely in the order of its strides (a sliced or broadcast one).
    /// Negative strides count by their size.
    ///
    /// ```
    /// use dlbridge::{DType, Tensor};
    ///
    /// let t = Tensor::zeros(DType::Int8, &[2, 3, 4])?.permute(&[2, 0, 1])?;
    /// let like = t.zeros_like(DType::Float64)?;
    /// assert_eq!((like.shape(), like.strides()), (&[4, 2, 3][..], &[1, 12, 4][..]));
    /// assert_eq!(like.storage_offset(), 0);
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn zeros_like(&self, dtype: DType) -> Result<Tensor> {
        let strides = crate::layout::preserved_strides(self.shape(), self.strides());
        let memory = Tensor::zeros(dtype, &[self.numel()])?;
        Tensor::from_parts(
            memory.into_storage(),
            Layout::new(self.shape(), &strides, 0)?,
            dtype,
            false,
        )
    }

    /// A copy of every byte this tensor's storage holds, in fresh memory, as
    /// a `uint8` tensor over exactly those bytes: what `copy.deepcopy`
    /// copies once for all the views of one storage, as PyTorch copies the
    /// storage and keeps each view's offset and strides. The bytes keep
    /// their placement modulo 16, so [`Tensor::rebased_onto`] can move any
    /// view of the source onto the copy with whole element offsets and the
    /// same [`Tensor::storage_offset`].
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    pub(crate) fn storage_copy(&self, participation: Participation) -> Result<Tensor> {
        let extent = self.storage().extent();
        let pad = extent.start.rem_euclid(COPY_PLACEMENT) as usize;
        let bytes = Tensor::from_parts(
            Arc::clone(self.storage()),
            Layout::new(&[extent.len], &[1], extent.start)?,
            DType::UInt8,
            true,
        )?;
        let total = extent.len.checked_add(pad).ok_or_else(|| Error::TooLarge {
            shape: vec![extent.len],
        })?;
        let copy = Tensor::zeros(DType::UInt8, &[total])?;
        copy.narrow(0, pad as isize, extent.len as isize)?
            .assign_with(&bytes, participation)?;
        // The only handle left: the views `narrow` made are gone.
        let storage = Arc::try_unwrap(copy.into_storage())
            .unwrap_or_else(|_| unreachable!("a fresh storage has one handle"))
            .within(Extent {
                start: pad as isize,
                len: extent.len,
            });
        Tensor::from_parts(
            Arc::new(storage),
            Layout::new(&[extent.len], &[1], pad as isize)?,
            DType::UInt8,
            false,
        )
    }

    /// This tensor's layout, dtype and read-only flag on the storage of
    /// `copy`, a [`Tensor::storage_copy`] of this tensor's storage: the
    /// same view of the copied bytes.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    pub(crate) fn rebased_onto(&self, copy: &Tensor) -> Result<Tensor> {
        let (source, target) = (self.storage().extent(), copy.storage().extent());
        let item = self.itemsize() as isize;
        let shift = target.start - source.start;
        if target.len != source.len || shift % item != 0 {
            return Err(Error::InvalidShape {
                reason: format!(
                    "a storage copy of {} bytes at {} cannot hold a view of {} bytes at {}",
                    target.len, target.start, source.len, source.start
                ),
            });
        }
        let layout = Layout::new(
            self.shape(),
            self.strides(),
            self.layout().offset() + shift / item,
        )?;
        Tensor::from_parts(
            Arc::clone(copy.storage()),
            layout,
            self.dtype(),
            self.is_readonly(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::IndexItem;

    fn arange(n: i64) -> Tensor {
        Tensor::from_vec((0..n).collect::<Vec<i64>>(), &[n as usize]).unwrap()
    }

    #[test]
    fn storage_offsets_count_from_the_storage_start() {
        let t = arange(24).view_shape(&[4, 6]).unwrap();
        let block = t
            .index(&[
                IndexItem::Slice {
                    start: Some(1),
                    stop: None,
                    step: None,
                },
                IndexItem::Slice {
                    start: Some(2),
                    stop: None,
                    step: None,
                },
            ])
            .unwrap();
        assert_eq!(block.storage_offset(), 8);
        let reversed = t
            .index(&[IndexItem::Slice {
                start: None,
                stop: None,
                step: Some(-1),
            }])
            .unwrap();
        assert_eq!(reversed.storage_offset(), 18);
    }

    #[test]
    fn as_strided_is_held_to_the_storage() {
        let t = arange(24).narrow(0, 5, 19).unwrap();
        let v = t.as_strided(&[2, 3], &[3, 1], Some(2)).unwrap();
        assert_eq!(v.storage_offset(), 2);
        assert_eq!(v.data_ptr(), arange_ptr(&t, 2));
        assert_eq!(t.as_strided(&[], &[], None).unwrap().storage_offset(), 5);
        for (size, stride, offset) in [
            (vec![25], vec![1], None),
            (vec![2], vec![-1], Some(5)),
            (vec![2], vec![1], Some(-1)),
            (vec![-1], vec![1], None),
            (vec![1, 2], vec![1], None),
            (vec![2], vec![isize::MAX], None),
            (vec![1], vec![1], Some(isize::MAX)),
            (vec![isize::MAX, 2], vec![0, 1], None),
            (vec![2, 2], vec![1 << 61, 1], None),
        ] {
            assert!(
                matches!(
                    t.as_strided(&size, &stride, offset),
                    Err(Error::InvalidShape { .. })
                ),
                "{size:?} {stride:?} {offset:?}"
            );
        }
        // An empty view needs no memory; a size-1 dimension's stride is never used.
        assert!(t.as_strided(&[0, 3], &[isize::MAX, 1], Some(0)).is_ok());
        assert!(t.as_strided(&[1, 3], &[isize::MAX, 1], Some(0)).is_ok());
    }

    fn arange_ptr(t: &Tensor, element: isize) -> *const u8 {
        t.data_ptr()
            .wrapping_offset((element - t.storage_offset()) * t.itemsize() as isize)
    }

    #[test]
    fn reinterpret_follows_pytorchs_view_dtype() {
        let bytes = Tensor::from_vec((0..8u8).collect::<Vec<_>>(), &[2, 4]).unwrap();
        let words = bytes.reinterpret(DType::Int16).unwrap();
        assert_eq!((words.shape(), words.strides()), (&[2, 2][..], &[2, 1][..]));
        let back = words.reinterpret(DType::UInt8).unwrap();
        assert_eq!((back.shape(), back.strides()), (&[2, 4][..], &[4, 1][..]));
        let refused =
            |t: &Tensor, dtype| matches!(t.reinterpret(dtype), Err(Error::IncompatibleView { .. }));
        assert!(refused(&bytes.transpose_all(), DType::Int16)); // stride(-1)
        assert!(refused(&bytes.narrow(1, 1, 2).unwrap(), DType::Int16)); // offset
        assert!(refused(&bytes, DType::Complex128)); // size(-1)
        assert!(refused(
            &bytes
                .index(&[IndexItem::Int(0), IndexItem::Int(0)])
                .unwrap(),
            DType::Int16
        ));
        let odd_rows = bytes
            .view_shape(&[8])
            .unwrap()
            .as_strided(&[2, 2], &[3, 1], Some(0))
            .unwrap();
        assert!(refused(&odd_rows, DType::Int16)); // stride(0)
    }

    #[test]
    fn a_storage_copy_keeps_every_view_and_its_offset() {
        let t = arange(24);
        let view = t.narrow(0, 5, 10).unwrap().view_shape(&[2, 5]).unwrap();
        let copy = view.storage_copy(Participation::Register).unwrap();
        let moved = view.rebased_onto(&copy).unwrap();
        assert_eq!(moved.storage_offset(), 5);
        assert_eq!(moved.strides(), view.strides());
        assert_ne!(moved.data_ptr(), view.data_ptr());
        assert_eq!(moved.to_scalars().unwrap(), view.to_scalars().unwrap());
        assert!(t.rebased_onto(&arange(3)).is_err());
    }
}
