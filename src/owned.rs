//! Rust-owned memory in and out of tensors without copying: any owner of a
//! slice (`Arc<[T]>`, `Box<[T]>`, a memory map, `bytes::Bytes`) or an owned
//! `ndarray::Array` becomes a tensor over its own memory, and a tensor that is
//! the last user of a `Vec` gives it back as an owned `Array`.
//!
//! What rust-numpy's `PyArray::from_owned_array` and `borrow_from_array`, and
//! nanobind's capsule owners, give their users: the owner is kept, untouched,
//! inside the tensor's storage and dropped once, when the last user lets go
//! (docs/ownership.md says who may free what).

use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::layout::{DimVec, Layout};
use crate::storage::{OwnerKind, Storage};
use crate::tensor::Tensor;
use ndarray::{Array, ArrayViewMut, Axis, Dimension, IxDyn, ShapeBuilder, Slice};
use std::any::Any;
use std::fmt;
use std::ptr::NonNull;
use std::sync::Arc;

impl Tensor {
    /// A **read-only** C-contiguous tensor of `shape` over the elements
    /// `owner` holds, without copying them; `owner` is kept inside the tensor
    /// and dropped once, on whichever thread lets go of the memory last (a
    /// Rust tensor, a `dlbridge.Tensor`, a NumPy array or torch tensor that
    /// imported it, a pickle buffer).
    ///
    /// The owner may be shared with other Rust code, as an `Arc<[T]>` is:
    /// no one writes through the tensor (it reaches NumPy as a read-only
    /// array, and `into_torch` refuses it, since torch has no read-only
    /// tensors). `owner.as_ref()` is called once, with the owner already in
    /// its final place, so owners that hold their elements inline (`[T; N]`)
    /// work too (a `Vec<T>` is kept as a vector, as [`Tensor::from_vec`]
    /// does, without the call). The owner's `Drop` must not panic: it may run
    /// inside a DLPack deleter, a C function. Fails with [`Error::LengthMismatch`] when the owner does not
    /// hold exactly the shape's element count (the owner is dropped then).
    ///
    /// ```
    /// use dlbridge::Tensor;
    /// use std::sync::Arc;
    ///
    /// let table: Arc<[f32]> = Arc::from(vec![1.0, 2.0, 3.0, 4.0]);
    /// let t = Tensor::from_owner(Arc::clone(&table), &[2, 2])?;
    /// assert_eq!(t.data_ptr(), table.as_ptr().cast()); // not copied
    /// assert!(t.is_readonly());
    /// assert_eq!(&*t.as_slice::<f32>()?, &*table); // Rust still reads it
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn from_owner<T, O>(owner: O, shape: &[usize]) -> Result<Tensor>
    where
        T: Element,
        O: AsRef<[T]> + Send + Sync + 'static,
    {
        let layout = contiguous_layout(shape)?;
        let storage = match into_vec::<T, O>(owner) {
            Ok(values) => Storage::from_vec(values),
            // SAFETY: the slice `as_ref` returns borrows from the owner, and
            // safe code cannot free or move it while the owner lives
            // untouched (it is never referenced again); no tensor on the
            // storage writes it (read-only, below).
            Err(owner) => unsafe { Storage::owned_by(owner, 0, |owner| located(owner.as_ref())) }
                .expect("byte 0 lies in any owner"),
        };
        with_elements::<T>(storage, layout, shape, true)
    }

    /// A writable C-contiguous tensor of `shape` over the elements `owner`
    /// holds (a `Vec<T>`, a `Box<[T]>`, a writable memory map), without
    /// copying them; `owner` is kept inside the tensor and dropped once, on
    /// whichever thread lets go of the memory last.
    ///
    /// `owner.as_mut()` is called once, with the owner in its final place.
    /// A `Vec<T>` is kept as a vector (as [`Tensor::from_vec`] does, without
    /// the call), so that [`Tensor::try_into_array`] can give it back. `bool`
    /// elements come back to the owner as valid `bool`s, whatever a `uint8`
    /// view wrote (a byte above 1 becomes 1 before the owner is dropped). The
    /// owner's `Drop` must not panic. Fails with
    /// [`Error::LengthMismatch`] when the owner does not hold exactly the
    /// shape's element count.
    ///
    /// ```
    /// use dlbridge::{Scalar, Tensor};
    ///
    /// let values: Box<[i32]> = vec![1, 2, 3].into_boxed_slice();
    /// let address = values.as_ptr();
    /// let t = Tensor::from_owner_mut(values, &[3])?;
    /// assert_eq!(t.data_ptr(), address.cast()); // not copied
    /// t.fill(Scalar::Int(7))?;
    /// assert_eq!(&*t.as_slice::<i32>()?, &[7, 7, 7]);
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn from_owner_mut<T, O>(owner: O, shape: &[usize]) -> Result<Tensor>
    where
        T: Element,
        O: AsMut<[T]> + Send + 'static,
    {
        let layout = contiguous_layout(shape)?;
        let storage = match into_vec::<T, O>(owner) {
            Ok(values) => Storage::from_vec(values),
            Err(owner) => {
                // SAFETY: the slice `as_mut` returns is the owner's,
                // exclusively: while the owner lives untouched (it is never
                // referenced again), only tensors on this storage reach it.
                let storage = unsafe {
                    Storage::owned_by(owner, 0, |owner| {
                        let elements = owner.as_mut();
                        let len = std::mem::size_of_val::<[T]>(elements);
                        (NonNull::from(elements).cast::<u8>(), len)
                    })
                }
                .expect("byte 0 lies in any owner");
                // The owner gets its `bool`s back valid, whatever a `uint8`
                // view wrote into them.
                if T::DTYPE == DType::Bool {
                    storage.holding_bools()
                } else {
                    storage
                }
            }
        };
        with_elements::<T>(storage, layout, shape, false)
    }

    /// A **read-only** C-contiguous tensor of `dtype` and `shape` over the
    /// bytes `owner` holds from byte `offset` on (a read-only memory map, a
    /// `bytes::Bytes`, a `Vec<u8>`: kept as an owner, not as a vector of the
    /// dtype), without copying them; `owner` is kept
    /// inside the tensor and dropped once, when the last user lets go.
    ///
    /// The owner may hold more bytes than the tensor needs (a file's header
    /// before the values, a trailer after them). `offset` need not be a
    /// multiple of the item size: such a tensor is shared, copied and
    /// exported like any other (NumPy and torch share misaligned memory too),
    /// and only typed Rust access refuses it ([`Error::Misaligned`]). Fails
    /// with [`Error::OwnerTooShort`] when the owner holds fewer than `offset`
    /// plus the tensor's bytes (the owner is dropped then).
    ///
    /// A file mapping that other processes may write is memory this process
    /// does not control: mapping it is `unsafe` in `memmap2` for that reason,
    /// and keeping that promise is the caller's, as it is for any mapping.
    ///
    /// ```
    /// use dlbridge::{DType, Error, Tensor};
    ///
    /// // A 4-byte header, then two little-endian float32 values.
    /// let mut file = b"HEAD".to_vec();
    /// file.extend([1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()));
    /// let address = file.as_ptr() as usize;
    /// let t = Tensor::from_bytes_owner(file, DType::Float32, &[2], 4)?;
    /// assert_eq!(t.data_ptr() as usize, address + 4);
    /// # #[cfg(target_endian = "little")]
    /// assert_eq!(&*t.as_slice::<f32>()?, &[1.5, -2.0]);
    ///
    /// let short = Tensor::from_bytes_owner(vec![0u8; 8], DType::Float64, &[2], 0);
    /// assert_eq!(short.unwrap_err(), Error::OwnerTooShort { len: 8, offset: 0, needed: 16 });
    /// # Ok::<(), Error>(())
    /// ```
    pub fn from_bytes_owner<O>(
        owner: O,
        dtype: DType,
        shape: &[usize],
        offset: usize,
    ) -> Result<Tensor>
    where
        O: AsRef<[u8]> + Send + Sync + 'static,
    {
        let layout = contiguous_layout(shape)?;
        // Wider than `usize`: a shape's byte size need not fit it.
        let needed = layout.numel() as u128 * dtype.itemsize() as u128;
        // SAFETY: as in `from_owner`: the bytes borrow from the owner, which
        // is never referenced again, and no tensor on the storage writes
        // them (read-only, below).
        let storage = unsafe { Storage::owned_by(owner, offset, |owner| located(owner.as_ref())) }
            .map_err(|len| Error::OwnerTooShort {
                len,
                offset,
                needed,
            })?;
        let available = storage.extent().len;
        if needed > available as u128 {
            return Err(Error::OwnerTooShort {
                len: available + offset,
                offset,
                needed,
            });
        }
        Tensor::from_parts(Arc::new(storage), layout, dtype, true)
    }

    /// A writable tensor over an owned `ndarray::Array`'s memory, without
    /// copying it: any layout (standard, Fortran, negative strides, a
    /// `slice_move` that starts past the vector's first element), with its
    /// shape and strides kept as they are.
    ///
    /// The array's vector becomes the tensor's memory, so that
    /// [`Tensor::try_into_array`] can give it back (for every layout ndarray
    /// can rebuild, which includes all those of slices, reshapes, reversed
    /// and permuted axes). Fails with
    /// [`Error::RankTooLarge`] past [`MAX_NDIM`](crate::MAX_NDIM) dimensions.
    ///
    /// ```
    /// use dlbridge::Tensor;
    /// use dlbridge::ndarray::{Array2, ShapeBuilder, s};
    ///
    /// let fortran = Array2::<f64>::zeros((2, 3).f());
    /// let address = fortran.as_ptr();
    /// let t = Tensor::from_array(fortran)?;
    /// assert_eq!((t.data_ptr(), t.strides()), (address.cast(), &[1, 2][..]));
    ///
    /// let flipped = Array2::<f64>::zeros((3, 4)).slice_move(s![1.., ..;-1]);
    /// let address = flipped.as_ptr();
    /// let t = Tensor::from_array(flipped)?;
    /// assert_eq!((t.data_ptr(), t.shape(), t.strides()), (address.cast(), &[2, 4][..], &[4, -1][..]));
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn from_array<T: Element, D: Dimension>(array: Array<T, D>) -> Result<Tensor> {
        crate::layout::check_ndim(array.ndim())?;
        let shape = DimVec::<usize>::from_slice(array.shape());
        let strides = DimVec::<isize>::from_slice(array.strides());
        let address = array.as_ptr() as usize;
        // The logical first element's index in the vector; `None` when the
        // array is empty, whose offset addresses nothing, and is taken from
        // its pointer so that `data_ptr` is the array's still.
        let (values, first) = array.into_raw_vec_and_offset();
        let first = match first {
            // A vector's index fits `isize` (no allocation exceeds it).
            Some(first) => first as isize,
            None => {
                let bytes = address.wrapping_sub(values.as_ptr() as usize) as isize;
                bytes / std::mem::size_of::<T>() as isize
            }
        };
        let layout = Layout::new(&shape, &strides, first)?;
        Tensor::from_parts(Arc::new(Storage::from_vec(values)), layout, T::DTYPE, false)
    }

    /// This tensor's memory as an owned `ndarray::Array`, without copying,
    /// when this tensor is the only user of memory that is a `Vec<T>`
    /// ([`Tensor::from_vec`], [`Tensor::from_array`], [`Tensor::from_owner`]
    /// or [`Tensor::from_owner_mut`] of a `Vec<T>`), with the shape, strides
    /// and first element of this tensor (the vector's other elements stay in
    /// the array's buffer, as after `slice_move`). Axes of length 1 may come
    /// back with other strides, and an empty tensor with another pointer:
    /// they address nothing.
    ///
    /// Otherwise the error gives the tensor back, unchanged, with the reason
    /// ([`IntoArrayReason`]), so that the caller can copy instead: other
    /// users of the memory (views, clones, exported capsules, NumPy arrays,
    /// torch tensors), memory that is not a `Vec` (imported from another
    /// framework; allocated by dlbridge, as `zeros` and copies are, 64-byte
    /// aligned and so not a `Vec`; another Rust owner; moved to shared
    /// memory), a vector of another element type (after `reinterpret`), a
    /// dtype or rank other than `T`'s and `D`'s, a `bool` vector holding
    /// another byte than 0 or 1, or a layout ndarray cannot rebuild as an
    /// owned `Array` (broadcast or overlapping strides, or an offset that no
    /// slice or reshape of the vector reaches).
    ///
    /// ```
    /// use dlbridge::{IntoArrayReason, Tensor};
    /// use dlbridge::ndarray::{Array2, Ix2, array};
    ///
    /// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
    /// let address = t.data_ptr();
    /// let view = t.clone();
    /// let refused = t.try_into_array::<f32, Ix2>().unwrap_err();
    /// assert_eq!(refused.reason(), &IntoArrayReason::Shared);
    /// drop(view);
    ///
    /// let array: Array2<f32> = refused.into_tensor().try_into_array().unwrap();
    /// assert_eq!(array.as_ptr().cast(), address); // the same memory
    /// assert_eq!(array, array![[1.0, 2.0], [3.0, 4.0]]);
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn try_into_array<T: Element, D: Dimension>(
        self,
    ) -> std::result::Result<Array<T, D>, IntoArrayError> {
        let refuse = |tensor, reason| Err(IntoArrayError { tensor, reason });
        let len = match (self.storage().vec_len::<T>(), self.storage().owner_kind()) {
            (Some(len), _) => len,
            (None, kind) => {
                let reason = match kind {
                    _ if self.is_shared() => IntoArrayReason::SharedMemory,
                    OwnerKind::Vec { element } => IntoArrayReason::ElementType {
                        vec: element,
                        requested: std::any::type_name::<T>(),
                    },
                    OwnerKind::Allocated => IntoArrayReason::Allocated,
                    OwnerKind::Rust => IntoArrayReason::OtherOwner,
                    OwnerKind::Foreign => IntoArrayReason::Foreign,
                };
                return refuse(self, reason);
            }
        };
        if self.dtype() != T::DTYPE {
            let reason = IntoArrayReason::DType {
                tensor: self.dtype(),
                requested: T::DTYPE,
            };
            return refuse(self, reason);
        }
        if D::NDIM.is_some_and(|ndim| ndim != self.ndim()) {
            let reason = IntoArrayReason::Rank {
                tensor: self.ndim(),
                requested: D::NDIM.unwrap_or_default(),
            };
            return refuse(self, reason);
        }
        let Some(plan) = Rebuild::of(self.layout(), len) else {
            let reason = IntoArrayReason::Layout {
                shape: self.shape().to_vec(),
                strides: self.strides().to_vec(),
            };
            return refuse(self, reason);
        };
        let readonly = self.is_readonly();
        let (storage, layout) = match self.try_into_unique_storage() {
            Ok(parts) => parts,
            Err(tensor) => return refuse(tensor, IntoArrayReason::Shared),
        };
        let given_back = |storage: Storage, layout: Layout| {
            Tensor::from_parts(Arc::new(storage), layout, T::DTYPE, readonly)
                .expect("the parts of a tensor just taken apart")
        };
        // Checked again now that no other handle exists: until then another
        // one could have moved the bytes to shared memory and let go.
        if storage.vec_len::<T>().is_none() {
            return refuse(given_back(storage, layout), IntoArrayReason::SharedMemory);
        }
        // The array owns the whole vector, so every element of it must be a
        // valid `T`: only `bool` has invalid bit patterns, which a `uint8`
        // view of the same memory may have written.
        if T::DTYPE == DType::Bool {
            // SAFETY: the storage is this function's alone (no other handle
            // exists to write it), its bytes are where the vector left them
            // (checked just above), and its first `len` bytes are the
            // initialised elements of a `Vec<bool>`, read as bytes.
            let bytes = unsafe { std::slice::from_raw_parts(storage.base().cast_const(), len) };
            if let Some(&byte) = bytes.iter().find(|&&byte| byte > 1) {
                return refuse(
                    given_back(storage, layout),
                    IntoArrayReason::InvalidBool { byte },
                );
            }
        }
        let values = match storage.into_vec::<T>() {
            Ok(values) => values,
            // Not reached: the storage is unique and was checked above.
            Err(storage) => {
                return refuse(given_back(storage, layout), IntoArrayReason::SharedMemory);
            }
        };
        let array = plan.build(values, &layout);
        Ok(array
            .into_dimensionality::<D>()
            .expect("the rank is checked above"))
    }
}

/// The row-major layout of `shape`, or the error for too many dimensions or
/// elements.
fn contiguous_layout(shape: &[usize]) -> Result<Layout> {
    crate::layout::check_ndim(shape.len())?;
    Layout::contiguous(shape).ok_or_else(|| Error::TooLarge {
        shape: shape.to_vec(),
    })
}

/// A tensor over a storage of `T` elements, which must be exactly as many as
/// `shape` holds.
fn with_elements<T: Element>(
    storage: Storage,
    layout: Layout,
    shape: &[usize],
    readonly: bool,
) -> Result<Tensor> {
    let len = storage.extent().len / std::mem::size_of::<T>();
    if len != layout.numel() {
        return Err(Error::LengthMismatch {
            len,
            shape: shape.to_vec(),
            numel: layout.numel(),
        });
    }
    Tensor::from_parts(Arc::new(storage), layout, T::DTYPE, readonly)
}

/// The address and byte length of an owner's elements.
fn located<T>(elements: &[T]) -> (NonNull<u8>, usize) {
    (
        NonNull::from(elements).cast::<u8>(),
        std::mem::size_of_val(elements),
    )
}

/// `owner` itself when it is a `Vec<T>` (kept as a vector, which
/// `try_into_array` can give back), or the owner back.
fn into_vec<T: 'static, O: 'static>(owner: O) -> std::result::Result<Vec<T>, O> {
    let mut slot = Some(owner);
    match (&mut slot as &mut dyn Any).downcast_mut::<Option<Vec<T>>>() {
        Some(values) => Ok(values.take().expect("filled just above")),
        None => Err(slot.expect("left untouched")),
    }
}

/// How an owned `Array` over a whole vector is cut down to a tensor's
/// layout. ndarray builds an owned array only with its lowest element at the
/// vector's first (`Array::from_shape_vec`); a layout that starts further in
/// is reached by slicing a larger array, or, for a layout that is contiguous
/// in some order, by reshaping the vector's contiguous run. Every plan is
/// checked by ndarray itself before the vector is taken, so building it
/// cannot fail.
enum Rebuild {
    Sliced(Parent),
    Reshaped(Reshaped),
}

impl Rebuild {
    /// A plan for `layout` over a vector of `len` elements, if ndarray gives
    /// an owned array that layout (no element reached twice, and an offset
    /// that slicing or reshaping reaches).
    fn of(layout: &Layout, len: usize) -> Option<Rebuild> {
        if let Some(parent) = Parent::of(layout, len) {
            return Some(Rebuild::Sliced(parent));
        }
        Reshaped::of(layout, len).map(Rebuild::Reshaped)
    }

    /// The owned array over `values`, cut down to `layout`.
    fn build<T>(&self, values: Vec<T>, layout: &Layout) -> Array<T, IxDyn> {
        match self {
            Rebuild::Sliced(parent) => parent.build(values, layout),
            Rebuild::Reshaped(reshaped) => reshaped.build(Array::from_vec(values), layout),
        }
    }
}

/// A larger array, then sliced: each axis longer than 1 grows by `grow` (at
/// its start for a positive stride, at its end for a negative one: either
/// way the lowest address moves down by `grow * |stride|`), the longest
/// strides taking what they can of the distance from the vector's start;
/// what is left, shorter than every stride, is one more axis of length 2
/// whose second index is kept.
struct Parent {
    /// The larger array's shape and strides, the extra axis first if any.
    shape: Vec<usize>,
    strides: Vec<isize>,
    /// How much each of the tensor's axes grew.
    grow: Vec<usize>,
    /// Whether there is an extra first axis.
    extra: bool,
}

impl Parent {
    /// The larger array for `layout` over a vector of `len` elements, if
    /// ndarray accepts it as an owned array (checked by ndarray itself, on a
    /// vector of zero-sized elements of the same length).
    fn of(layout: &Layout, len: usize) -> Option<Parent> {
        let (shape, strides) = (layout.shape(), layout.strides());
        let parent = match layout.span() {
            // An empty array addresses nothing; its strides are kept when
            // ndarray accepts them, and zeroed otherwise.
            None => {
                let kept = Parent::unchanged(shape, strides.to_vec());
                if kept.accepted(len) {
                    return Some(kept);
                }
                Parent::unchanged(shape, vec![0; shape.len()])
            }
            Some((low, _)) => {
                // `low >= 0`: the layout lies inside the vector (bounds).
                let mut distance = low.unsigned_abs();
                // Axes of length 1 address one element whatever their
                // stride: they keep it, and do not grow.
                let mut axes: DimVec<usize> = (0..shape.len()).filter(|&a| shape[a] > 1).collect();
                axes.sort_by_key(|&axis| std::cmp::Reverse(strides[axis].unsigned_abs()));
                let mut grow = vec![0; shape.len()];
                for axis in axes {
                    let step = strides[axis].unsigned_abs();
                    if let Some(times) = distance.checked_div(step) {
                        grow[axis] = times;
                        distance -= times * step;
                    }
                }
                let extra = distance != 0;
                let mut parent_shape = Vec::with_capacity(shape.len() + 1);
                let mut parent_strides = Vec::with_capacity(shape.len() + 1);
                if extra {
                    parent_shape.push(2);
                    parent_strides.push(distance as isize);
                }
                for axis in 0..shape.len() {
                    // No overflow: `grow * |stride| <= low` and
                    // `(size - 1) * |stride|` both fit `isize`.
                    parent_shape.push(shape[axis] + grow[axis]);
                    parent_strides.push(strides[axis]);
                }
                Parent {
                    shape: parent_shape,
                    strides: parent_strides,
                    grow,
                    extra,
                }
            }
        };
        parent.accepted(len).then_some(parent)
    }

    fn unchanged(shape: &[usize], strides: Vec<isize>) -> Parent {
        Parent {
            shape: shape.to_vec(),
            strides,
            grow: vec![0; shape.len()],
            extra: false,
        }
    }

    /// The shape and strides for ndarray.
    fn shape_for_ndarray(&self) -> ndarray::StrideShape<IxDyn> {
        // ndarray takes strides as `usize` bit patterns (negative ones too).
        let strides = self.strides.iter().map(|&s| s as usize).collect::<Vec<_>>();
        IxDyn(&self.shape).strides(IxDyn(&strides))
    }

    /// Whether ndarray accepts this as an owned array over `len` elements:
    /// the very check `Array::from_shape_vec` makes (an `ArrayViewMut` is
    /// checked as an owned array is), run on zero-sized elements.
    fn accepted(&self, len: usize) -> bool {
        ArrayViewMut::from_shape(self.shape_for_ndarray(), units(len)).is_ok()
    }

    /// The owned array over `values`, cut down to `layout`.
    fn build<T>(&self, values: Vec<T>, layout: &Layout) -> Array<T, IxDyn> {
        let mut array = Array::from_shape_vec(self.shape_for_ndarray(), values)
            .expect("accepted by the same check (Parent::accepted)");
        let first = usize::from(self.extra);
        for (axis, (&grow, &size)) in self.grow.iter().zip(layout.shape()).enumerate() {
            if grow != 0 {
                let kept = if layout.strides()[axis] > 0 {
                    Slice::from(grow as isize..)
                } else {
                    Slice::from(..size as isize)
                };
                array.slice_axis_inplace(Axis(first + axis), kept);
            }
        }
        if self.extra {
            array = array.index_axis_move(Axis(0), 1);
        }
        array
    }
}

/// The vector's run of elements from the layout's lowest, reshaped in C or
/// Fortran order, then the axes with negative strides reversed: for layouts
/// that are contiguous in some order but start past the vector's first
/// element where no larger array can be sliced to them (a reshape of a
/// `slice_move`d vector). Axes of length 1 get ndarray's strides.
struct Reshaped {
    /// The first element of the run, and its length.
    low: usize,
    numel: usize,
    order: ndarray::Order,
}

impl Reshaped {
    fn of(layout: &Layout, len: usize) -> Option<Reshaped> {
        let (low, _) = layout.span()?;
        // Contiguous in an order once the axes with negative strides are
        // reversed: the layout's own contiguity checks, on the absolute
        // strides (axes of length 1 are ignored there).
        let unsigned: DimVec<isize> = layout.strides().iter().map(|s| s.abs()).collect();
        let forward = Layout::new(layout.shape(), &unsigned, 0).ok()?;
        let order = if forward.is_contiguous() {
            ndarray::Order::RowMajor
        } else if forward.is_f_contiguous() {
            ndarray::Order::ColumnMajor
        } else {
            return None;
        };
        let reshaped = Reshaped {
            low: low.unsigned_abs(),
            numel: layout.numel(),
            order,
        };
        // The run lies in the vector: the layout does (bounds), and a
        // contiguous one reaches `numel` elements from its lowest.
        if reshaped.low.checked_add(reshaped.numel)? > len {
            return None;
        }
        // Checked by ndarray on zero-sized elements, as `Parent` is.
        let view = ndarray::ArrayViewMut1::from(units(len));
        reshaped.cut(view, layout).ok().map(|_| reshaped)
    }

    /// `run` (the whole vector, as a 1-d array) cut, reshaped and reversed
    /// into `layout`.
    fn cut<S: ndarray::RawData>(
        &self,
        mut run: ndarray::ArrayBase<S, ndarray::Ix1>,
        layout: &Layout,
    ) -> std::result::Result<ndarray::ArrayBase<S, IxDyn>, ndarray::ShapeError> {
        // In range (`Reshaped::of` checks it): ndarray panics otherwise.
        let (low, end) = (self.low as isize, (self.low + self.numel) as isize);
        run.slice_axis_inplace(Axis(0), Slice::from(low..end));
        let mut array = run.into_shape_with_order((IxDyn(layout.shape()), self.order))?;
        for (axis, (&size, &stride)) in layout.shape().iter().zip(layout.strides()).enumerate() {
            if size > 1 && stride < 0 {
                array.invert_axis(Axis(axis));
            }
        }
        Ok(array)
    }

    fn build<T>(&self, run: Array<T, ndarray::Ix1>, layout: &Layout) -> Array<T, IxDyn> {
        self.cut(run, layout)
            .expect("accepted by the same steps (Reshaped::of)")
    }
}

/// A `&mut [()]` of any length, to run ndarray's checks on: a slice of
/// zero-sized elements needs no memory (building a `Vec<()>` of that length
/// would count up to it, element by element, without optimisations).
fn units(len: usize) -> &'static mut [()] {
    // SAFETY: zero-sized elements occupy no memory, so any number of them
    // lies at a dangling, well-aligned, non-null address, for any lifetime,
    // with no other reference to it (nothing is there to alias).
    unsafe { std::slice::from_raw_parts_mut(NonNull::<()>::dangling().as_ptr(), len) }
}

/// Why [`Tensor::try_into_array`] could not give the memory back as an
/// owned `Array`; the tensor itself comes back with it, unchanged.
#[derive(Debug)]
pub struct IntoArrayError {
    tensor: Tensor,
    reason: IntoArrayReason,
}

impl IntoArrayError {
    /// Why the array could not be made.
    pub fn reason(&self) -> &IntoArrayReason {
        &self.reason
    }

    /// The tensor, unchanged (to copy it instead: `deep_copy`, `view`).
    pub fn into_tensor(self) -> Tensor {
        self.tensor
    }
}

impl fmt::Display for IntoArrayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot take this tensor's memory as an owned array without a copy: {}",
            self.reason
        )
    }
}

impl std::error::Error for IntoArrayError {}

/// The reasons [`Tensor::try_into_array`] refuses, each saying what the
/// caller can do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IntoArrayReason {
    /// Another tensor, view, clone, exported capsule, NumPy array, torch
    /// tensor or buffer uses the memory.
    Shared,
    /// The memory was moved to shared memory for other processes
    /// ([`Tensor::share_memory`]).
    SharedMemory,
    /// Memory of another framework, of Python, or of another compiled copy
    /// of dlbridge.
    Foreign,
    /// Memory dlbridge allocated (`zeros`, copies): 64-byte aligned, so not
    /// a `Vec` an `Array` could own.
    Allocated,
    /// Memory of a Rust owner other than a `Vec` ([`Tensor::from_owner`]
    /// and its siblings).
    OtherOwner,
    /// A `Vec` of another element type than the one asked for (a
    /// `reinterpret`ed tensor).
    ElementType {
        /// The vector's element type.
        vec: &'static str,
        /// The element type asked for.
        requested: &'static str,
    },
    /// The tensor's dtype is not the element type's.
    DType {
        /// The tensor's dtype.
        tensor: DType,
        /// The element type's.
        requested: DType,
    },
    /// The tensor's rank is not the dimensionality's.
    Rank {
        /// The tensor's number of dimensions.
        tensor: usize,
        /// The dimensionality's.
        requested: usize,
    },
    /// A `bool` vector holding a byte other than 0 or 1 (written through a
    /// `uint8` view of the same memory), which is not a Rust `bool`.
    InvalidBool {
        /// The first such byte.
        byte: u8,
    },
    /// A layout ndarray cannot rebuild as an owned `Array`: one that
    /// reaches some element twice (broadcast or overlapping strides), whose
    /// axes interleave (ndarray's check is conservative), or whose first
    /// element no slice or reshape of the vector reaches.
    Layout {
        /// The tensor's shape.
        shape: Vec<usize>,
        /// Its strides, in elements.
        strides: Vec<isize>,
    },
}

impl fmt::Display for IntoArrayReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntoArrayReason::Shared => {
                write!(f, "other tensors, views or exported arrays use the memory")
            }
            IntoArrayReason::SharedMemory => {
                write!(
                    f,
                    "the memory was moved to shared memory for other processes"
                )
            }
            IntoArrayReason::Foreign => write!(
                f,
                "the memory belongs to another framework, to Python or to another copy of dlbridge"
            ),
            IntoArrayReason::Allocated => write!(
                f,
                "the memory was allocated by dlbridge (64-byte aligned), not a Vec"
            ),
            IntoArrayReason::OtherOwner => {
                write!(f, "the memory belongs to a Rust owner that is not a Vec")
            }
            IntoArrayReason::ElementType { vec, requested } => {
                write!(f, "the memory is a Vec<{vec}>, not a Vec<{requested}>")
            }
            IntoArrayReason::DType { tensor, requested } => {
                write!(f, "the tensor holds {tensor}, {requested} was requested")
            }
            IntoArrayReason::Rank { tensor, requested } => write!(
                f,
                "the tensor has {tensor} dimensions, {requested} were requested"
            ),
            IntoArrayReason::InvalidBool { byte } => write!(
                f,
                "the bool vector holds the byte {byte}, which is not a valid bool"
            ),
            IntoArrayReason::Layout { shape, strides } => write!(
                f,
                "shape {shape:?} with strides {strides:?} is not a layout ndarray can rebuild as an owned Array (some element reached twice, interleaved axes, or an offset no slice or reshape of the vector reaches)"
            ),
        }
    }
}
