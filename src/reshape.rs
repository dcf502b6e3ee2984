//! The layout vocabulary PyTorch users reach for, as views that never copy
//! (`view_shape`, PyTorch's `view`; `squeeze`, `unsqueeze`, `transpose`, `expand`) and `reshape` and
//! `flatten`, which copy only when no view can have the shape.
//!
//! Each follows PyTorch's own rule, cited where it decides: which shapes a
//! strided layout can be viewed as (`computeStride` in
//! aten/src/ATen/TensorUtils.cpp), how `-1` is inferred (`infer_size_impl` in
//! aten/src/ATen/InferSize.h), how dimensions wrap (`maybe_wrap_dim`, where a
//! 0-d tensor takes the dimensions `-1` and `0`), and the strides a new
//! dimension gets (`inferUnsqueezeGeometry`).

use crate::error::{Error, Result};
use crate::layout::{self, DimVec, Layout};
use crate::tensor::Tensor;

/// PyTorch's `maybe_wrap_dim`: a dimension in `[-ndim, ndim - 1]` (a 0-d
/// tensor taking `-1` and `0`), as an index.
pub(crate) fn wrap_dim(dim: isize, ndim: usize) -> Result<usize> {
    let rank = ndim.max(1) as isize;
    if dim < -rank || dim >= rank {
        return Err(Error::DimOutOfRange { dim, ndim });
    }
    Ok(if dim < 0 { dim + rank } else { dim } as usize)
}

/// PyTorch's `infer_size`: `shape` with its one `-1` (if any) worked out so
/// that it holds `numel` elements.
pub(crate) fn infer_shape(shape: &[isize], numel: usize) -> Result<Vec<usize>> {
    let invalid = |reason: String| Error::InvalidShape { reason };
    let mut inferred = None;
    let mut known: usize = 1;
    for (axis, &size) in shape.iter().enumerate() {
        match size {
            -1 if inferred.is_some() => {
                return Err(invalid("only one dimension can be inferred".into()));
            }
            -1 => inferred = Some(axis),
            0.. => {
                known = known
                    .checked_mul(size as usize)
                    .ok_or_else(|| invalid(format!("shape '{shape:?}' is too large")))?;
            }
            _ => return Err(invalid(format!("invalid shape dimension {size}"))),
        }
    }
    let fits = numel == known || (inferred.is_some() && known > 0 && numel.is_multiple_of(known));
    if !fits {
        return Err(invalid(format!(
            "shape '{shape:?}' is invalid for input of size {numel}"
        )));
    }
    let mut resolved: Vec<usize> = shape.iter().map(|&size| size.max(0) as usize).collect();
    if let Some(axis) = inferred {
        if known == 0 {
            return Err(invalid(format!(
                "cannot reshape tensor of 0 elements into shape {shape:?} because the \
                 unspecified dimension size -1 can be any value and is ambiguous"
            )));
        }
        resolved[axis] = numel / known;
    }
    layout::check_ndim(resolved.len())?;
    Ok(resolved)
}

impl Layout {
    /// The strides that show this layout's elements, in the same order, with
    /// shape `target` (which holds as many elements), or `None` when no
    /// strides can: PyTorch's `computeStride`. Dimensions can be merged or
    /// split only within a run of dimensions that are contiguous with each
    /// other (size-1 dimensions never break a run).
    pub(crate) fn view_strides(&self, target: &[usize]) -> Option<DimVec<isize>> {
        let (shape, strides) = (self.shape(), self.strides());
        if shape.is_empty() {
            return Some(DimVec::from_elem(1, target.len()));
        }
        if self.numel() == 0 {
            // Strides are arbitrary without elements: kept when the shape is,
            // else those of a fresh row-major tensor (PyTorch, as NumPy).
            if shape == target {
                return Some(strides.into());
            }
            return Some(layout::contiguous_strides(target));
        }
        let mut result = DimVec::from_elem(0isize, target.len());
        let mut view_d = target.len() as isize - 1;
        let mut chunk_base_stride = *strides.last().expect("not 0-d");
        let mut tensor_numel: usize = 1;
        let mut view_numel: usize = 1;
        for tensor_d in (0..shape.len()).rev() {
            // Counts fit `isize` (the layout's invariant); their products
            // with a stride may not, and a stride that does not fit cannot
            // continue a run nor be given to a dimension.
            tensor_numel *= shape[tensor_d];
            let run_stride = (tensor_numel as isize).checked_mul(chunk_base_stride);
            let chunk_ends = tensor_d == 0
                || (shape[tensor_d - 1] != 1 && Some(strides[tensor_d - 1]) != run_stride);
            if chunk_ends {
                while view_d >= 0 && (view_numel < tensor_numel || target[view_d as usize] == 1) {
                    result[view_d as usize] =
                        (view_numel as isize).checked_mul(chunk_base_stride)?;
                    view_numel *= target[view_d as usize];
                    view_d -= 1;
                }
                if view_numel != tensor_numel {
                    return None;
                }
                if tensor_d > 0 {
                    chunk_base_stride = strides[tensor_d - 1];
                    tensor_numel = 1;
                    view_numel = 1;
                }
            }
        }
        (view_d == -1).then_some(result)
    }
}

impl Tensor {
    /// A view of this tensor with another shape, never a copy: PyTorch's
    /// `view(*shape)` (the name `view` is [`Tensor::view`]'s, the typed
    /// `ndarray` view). One `-1` in `shape` is inferred. Fails with
    /// [`Error::InvalidShape`] when the shape does not hold the elements, and
    /// with [`Error::NotViewable`] when the layout cannot be seen with that
    /// shape without copying (a transposed tensor flattened, say; use
    /// [`Tensor::reshape`] then).
    ///
    /// ```
    /// use dlbridge::{Error, Tensor};
    ///
    /// let t = Tensor::from_vec((0..6).collect::<Vec<i32>>(), &[2, 3])?;
    /// let v = t.view_shape(&[3, -1])?;
    /// assert_eq!((v.shape(), v.data_ptr()), (&[3, 2][..], t.data_ptr()));
    /// let transposed = t.transpose_all();
    /// assert!(matches!(transposed.view_shape(&[-1]), Err(Error::NotViewable { .. })));
    /// assert!(matches!(t.view_shape(&[4, -1]), Err(Error::InvalidShape { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn view_shape(&self, shape: &[isize]) -> Result<Tensor> {
        let target = infer_shape(shape, self.numel())?;
        let strides = self
            .layout()
            .view_strides(&target)
            .ok_or_else(|| Error::NotViewable {
                shape: self.shape().to_vec(),
                strides: self.strides().to_vec(),
                target: target.clone(),
            })?;
        self.with_layout(Layout::new(&target, &strides, self.layout().offset())?)
    }

    /// This tensor with another shape, as PyTorch's `reshape`: a view when
    /// the layout allows one ([`Tensor::view_shape`]'s rule, which covers more than
    /// contiguous tensors), else a C-contiguous copy. Fails with
    /// [`Error::InvalidShape`] when the shape does not hold the elements.
    ///
    /// ```
    /// use dlbridge::Tensor;
    ///
    /// let t = Tensor::from_vec((0..6).collect::<Vec<i64>>(), &[2, 3])?;
    /// assert_eq!(t.reshape(&[-1])?.data_ptr(), t.data_ptr()); // a view
    /// let flat = t.transpose_all().reshape(&[-1])?; // no view can: a copy
    /// assert_ne!(flat.data_ptr(), t.data_ptr());
    /// assert_eq!(flat.to_scalars()?, t.transpose_all().to_scalars()?);
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn reshape(&self, shape: &[isize]) -> Result<Tensor> {
        match self.view_shape(shape) {
            Err(Error::NotViewable { .. }) => self.to_dtype(self.dtype())?.view_shape(shape),
            result => result,
        }
    }

    /// Dimensions `start..=end` merged into one, as PyTorch's `flatten`
    /// (negative dimensions count from the end): a view when the layout
    /// allows, else a copy ([`Tensor::reshape`]). A 0-d tensor becomes 1-d.
    ///
    /// ```
    /// let t = dlbridge::Tensor::zeros(dlbridge::DType::Float32, &[2, 3, 4])?;
    /// assert_eq!(t.flatten(1, -1)?.shape(), &[2, 12]);
    /// assert_eq!(t.flatten(0, -1)?.shape(), &[24]);
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn flatten(&self, start: isize, end: isize) -> Result<Tensor> {
        match self.flatten_shape(start, end)? {
            Some(target) => self.reshape(&target),
            None => Ok(self.clone()),
        }
    }

    /// The shape [`Tensor::flatten`] reshapes to, `None` when it changes
    /// nothing (`start == end` on a tensor of at least one dimension).
    pub(crate) fn flatten_shape(&self, start: isize, end: isize) -> Result<Option<Vec<isize>>> {
        let ndim = self.ndim();
        let (start, end) = (wrap_dim(start, ndim)?, wrap_dim(end, ndim)?);
        if start > end {
            return Err(Error::InvalidShape {
                reason: "flatten() has invalid args: start_dim cannot come after end_dim".into(),
            });
        }
        if ndim == 0 {
            return Ok(Some(vec![1]));
        }
        if start == end {
            return Ok(None);
        }
        let shape = self.shape();
        let merged: usize = shape[start..=end].iter().product();
        Ok(Some(
            shape[..start]
                .iter()
                .chain(std::iter::once(&merged))
                .chain(&shape[end + 1..])
                .map(|&size| size as isize)
                .collect(),
        ))
    }

    /// A view without size-1 dimensions, as PyTorch's `squeeze`: all of them
    /// with `dim` `None`, else only `dim` if its size is 1 (otherwise the
    /// view has the same shape). Fails with [`Error::DimOutOfRange`].
    ///
    /// ```
    /// let t = dlbridge::Tensor::zeros(dlbridge::DType::Int8, &[1, 3, 1])?;
    /// assert_eq!(t.squeeze(None)?.shape(), &[3]);
    /// assert_eq!(t.squeeze(Some(-1))?.shape(), &[1, 3]);
    /// assert_eq!(t.squeeze(Some(1))?.shape(), &[1, 3, 1]);
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn squeeze(&self, dim: Option<isize>) -> Result<Tensor> {
        match dim {
            Some(dim) => self.squeeze_dims(&[dim]),
            None => self.squeeze_where(|_| true),
        }
    }

    /// A view without those of dimensions `dims` that have size 1, as
    /// PyTorch's `squeeze` with a tuple of dimensions (the others, and
    /// dimensions of another size, are kept). Fails with
    /// [`Error::DimOutOfRange`], and with [`Error::InvalidShape`] when a
    /// dimension is named twice (`-1` and `ndim - 1` are one).
    ///
    /// ```
    /// let t = dlbridge::Tensor::zeros(dlbridge::DType::Int8, &[1, 3, 1, 4])?;
    /// assert_eq!(t.squeeze_dims(&[0, 2])?.shape(), &[3, 4]);
    /// assert_eq!(t.squeeze_dims(&[1, -2])?.shape(), &[1, 3, 4]);
    /// assert!(t.squeeze_dims(&[0, -4]).is_err());
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn squeeze_dims(&self, dims: &[isize]) -> Result<Tensor> {
        // PyTorch's `dim_list_to_bitset`: each dimension wrapped, then
        // checked against those before it.
        let mut named = [false; layout::MAX_NDIM];
        for &dim in dims {
            let axis = wrap_dim(dim, self.ndim())?;
            if std::mem::replace(&mut named[axis], true) {
                return Err(Error::InvalidShape {
                    reason: format!("dim {axis} appears multiple times in the list of dims"),
                });
            }
        }
        self.squeeze_where(|axis| named[axis])
    }

    /// A view without the size-1 dimensions `chosen` picks.
    fn squeeze_where(&self, chosen: impl Fn(usize) -> bool) -> Result<Tensor> {
        let axes = (0..self.ndim()).filter(|&axis| !(chosen(axis) && self.shape()[axis] == 1));
        let layout = Layout::new(
            &axes
                .clone()
                .map(|axis| self.shape()[axis])
                .collect::<DimVec<_>>(),
            &axes.map(|axis| self.strides()[axis]).collect::<DimVec<_>>(),
            self.layout().offset(),
        )?;
        self.with_layout(layout)
    }

    /// A view with dimensions reordered, `dims[i]` (which may count from
    /// the end) becoming dimension `i`, as PyTorch's `permute`: fails with
    /// [`Error::InvalidShape`] when `dims` does not name every dimension
    /// once, and with [`Error::DimOutOfRange`].
    ///
    /// ```
    /// let t = dlbridge::Tensor::zeros(dlbridge::DType::Int8, &[2, 3, 4])?;
    /// assert_eq!(t.permute_dims(&[-1, 0, 1])?.shape(), &[4, 2, 3]);
    /// assert!(t.permute_dims(&[0, 1]).is_err());
    /// assert!(t.permute_dims(&[0, 1, -3]).is_err());
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn permute_dims(&self, dims: &[isize]) -> Result<Tensor> {
        let ndim = self.ndim();
        // PyTorch's order: the count, then each dimension wrapped and
        // checked against those before it.
        if dims.len() != ndim {
            return Err(Error::InvalidShape {
                reason: format!(
                    "permute(): the number of dims ({}) does not match the number of dimensions of the tensor ({ndim})",
                    dims.len()
                ),
            });
        }
        let mut seen = [false; layout::MAX_NDIM];
        let mut order = DimVec::new();
        for &dim in dims {
            let axis = wrap_dim(dim, ndim)?;
            if std::mem::replace(&mut seen[axis], true) {
                return Err(Error::InvalidShape {
                    reason: format!("permute(): duplicate dims are not allowed: {dims:?}"),
                });
            }
            order.push(axis);
        }
        self.permute(&order)
    }

    /// A view with a new dimension of size 1 at `dim` (in `[-ndim - 1,
    /// ndim]`), as PyTorch's `unsqueeze`, with PyTorch's stride for it.
    /// Fails with [`Error::DimOutOfRange`].
    ///
    /// ```
    /// let t = dlbridge::Tensor::zeros(dlbridge::DType::Int8, &[2, 3])?;
    /// let u = t.unsqueeze(1)?;
    /// assert_eq!((u.shape(), u.strides()), (&[2, 1, 3][..], &[3, 3, 1][..]));
    /// assert_eq!(t.unsqueeze(-1)?.shape(), &[2, 3, 1]);
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn unsqueeze(&self, dim: isize) -> Result<Tensor> {
        let ndim = self.ndim();
        let axis = wrap_dim(dim, ndim + 1)?;
        layout::check_ndim(ndim + 1)?;
        let (mut shape, mut strides) = (
            DimVec::from_slice(self.shape()),
            DimVec::from_slice(self.strides()),
        );
        let stride = if axis >= ndim {
            Some(1)
        } else {
            (shape[axis] as isize).checked_mul(strides[axis])
        };
        let Some(stride) = stride else {
            return Err(self.overflow());
        };
        shape.insert(axis, 1);
        strides.insert(axis, stride);
        self.with_layout(Layout::new(&shape, &strides, self.layout().offset())?)
    }

    /// A view with dimensions `a` and `b` swapped, as PyTorch's `transpose`.
    /// Fails with [`Error::DimOutOfRange`].
    ///
    /// ```
    /// let t = dlbridge::Tensor::zeros(dlbridge::DType::Int8, &[2, 3, 4])?;
    /// assert_eq!(t.transpose(0, -1)?.shape(), &[4, 3, 2]);
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn transpose(&self, a: isize, b: isize) -> Result<Tensor> {
        let ndim = self.ndim();
        let (a, b) = (wrap_dim(a, ndim)?, wrap_dim(b, ndim)?);
        if ndim == 0 {
            return Ok(self.clone());
        }
        let (mut shape, mut strides) = (
            DimVec::from_slice(self.shape()),
            DimVec::from_slice(self.strides()),
        );
        shape.swap(a, b);
        strides.swap(a, b);
        self.with_layout(Layout::new(&shape, &strides, self.layout().offset())?)
    }

    /// A view repeating size-1 dimensions (and adding leading ones) to reach
    /// `sizes`, as PyTorch's `expand`: `-1` keeps a dimension's size, and
    /// nothing is copied (the repeated dimensions get stride 0, so the view
    /// cannot be written). Fails with [`Error::InvalidShape`] in PyTorch's
    /// words.
    ///
    /// ```
    /// let row = dlbridge::Tensor::from_vec(vec![1u8, 2, 3], &[1, 3])?;
    /// let grid = row.expand(&[4, -1])?;
    /// assert_eq!((grid.shape(), grid.strides()), (&[4, 3][..], &[0, 1][..]));
    /// assert!(row.expand(&[2, 4]).is_err());
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn expand(&self, sizes: &[isize]) -> Result<Tensor> {
        let ndim = self.ndim();
        let invalid = |reason: String| Error::InvalidShape { reason };
        if sizes.len() < ndim {
            return Err(invalid(format!(
                "expand(dlbridge.Tensor{{{:?}}}, size={sizes:?}): the number of sizes provided ({}) must be greater or equal to the number of dimensions in the tensor ({ndim})",
                self.shape(),
                sizes.len()
            )));
        }
        // PyTorch's `inferExpandGeometry`, from the last dimension back: an
        // existing dimension keeps its stride unless it grows from 1 (stride
        // 0); a new leading one of size 1 gets the stride that would step
        // over the dimensions after it, and 0 when it repeats.
        let lead = sizes.len() - ndim;
        let mut shape = DimVec::from_elem(0usize, sizes.len());
        let mut strides = DimVec::from_elem(0isize, sizes.len());
        for axis in (0..sizes.len()).rev() {
            let old = axis.checked_sub(lead);
            let (mut size, mut stride) = match old {
                Some(old) => (self.shape()[old], self.strides()[old]),
                None if axis + 1 < sizes.len() => {
                    // Unchecked, this wraps for huge dimensions (torch's
                    // "Stride calculation overflowed").
                    let stride = (shape[axis + 1] as isize)
                        .checked_mul(strides[axis + 1])
                        .ok_or_else(|| self.overflow())?;
                    (1, stride)
                }
                None => (1, 0),
            };
            let wanted = match sizes[axis] {
                -1 if old.is_none() => {
                    return Err(invalid(format!(
                        "The expanded size of the tensor (-1) isn't allowed in a leading, non-existing dimension {axis}"
                    )));
                }
                -1 => size,
                wanted if wanted < 0 => {
                    return Err(invalid(format!("invalid shape dimension {wanted}")));
                }
                wanted => wanted as usize,
            };
            if size != wanted {
                if size != 1 {
                    return Err(invalid(format!(
                        "The expanded size of the tensor ({wanted}) must match the existing size ({size}) at non-singleton dimension {axis}.  Target sizes: {sizes:?}.  Tensor sizes: {:?}",
                        self.shape()
                    )));
                }
                size = wanted;
                stride = 0;
            }
            shape[axis] = size;
            strides[axis] = stride;
        }
        layout::check_ndim(shape.len())?;
        if layout::numel(&shape).is_none() {
            return Err(Error::TooLarge {
                shape: shape.into_vec(),
            });
        }
        self.with_layout(Layout::new(&shape, &strides, self.layout().offset())?)
    }
}

impl Tensor {
    /// A view of `length` elements of dimension `dim` from `start` (which
    /// may count from the end), as PyTorch's `narrow`.
    ///
    /// ```
    /// let t = dlbridge::Tensor::from_vec((0..6).collect::<Vec<i32>>(), &[2, 3])?;
    /// let n = t.narrow(1, -2, 2)?;
    /// assert_eq!((n.shape(), n.strides()), (&[2, 2][..], &[3, 1][..]));
    /// assert_eq!(n.data_ptr(), t.data_ptr().wrapping_add(4));
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn narrow(&self, dim: isize, start: isize, length: isize) -> Result<Tensor> {
        if self.ndim() == 0 {
            return Err(Error::InvalidShape {
                reason: "narrow() cannot be applied to a 0-dim tensor.".into(),
            });
        }
        // PyTorch checks the length before the dimension and the start.
        if length < 0 {
            return Err(Error::InvalidShape {
                reason: "narrow(): length must be non-negative.".into(),
            });
        }
        let axis = wrap_dim(dim, self.ndim())?;
        let size = self.shape()[axis];
        let first = if start < 0 {
            start + size as isize
        } else {
            start
        };
        if first < 0 || first > size as isize {
            return Err(Error::IndexOutOfRange {
                index: start,
                axis,
                size,
            });
        }
        // `first` is in [0, size], so this cannot overflow where
        // `first + length` can (length up to isize::MAX).
        if length > size as isize - first {
            return Err(Error::InvalidShape {
                reason: format!(
                    "start ({first}) + length ({length}) exceeds dimension size ({size})."
                ),
            });
        }
        let mut shape = DimVec::from_slice(self.shape());
        shape[axis] = length as usize;
        let offset = first
            .checked_mul(self.strides()[axis])
            .and_then(|step| self.layout().offset().checked_add(step))
            .ok_or_else(|| self.overflow())?;
        self.with_layout(Layout::new(&shape, self.strides(), offset)?)
    }

    /// Dimension `dim` split into `sizes` (one `-1` inferred), as PyTorch's
    /// `unflatten`: always a view.
    ///
    /// ```
    /// let t = dlbridge::Tensor::zeros(dlbridge::DType::Int8, &[2, 12])?;
    /// assert_eq!(t.unflatten(1, &[3, -1])?.shape(), &[2, 3, 4]);
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn unflatten(&self, dim: isize, sizes: &[isize]) -> Result<Tensor> {
        let axis = wrap_dim(dim, self.ndim())?;
        if self.ndim() == 0 {
            return Err(Error::InvalidShape {
                reason: "unflatten: a 0-dim tensor has no dimension to split".into(),
            });
        }
        if sizes.is_empty() {
            return Err(Error::InvalidShape {
                reason: "unflatten: sizes must be non-empty".into(),
            });
        }
        let size = self.shape().get(axis).copied().unwrap_or(1);
        let split = infer_shape(sizes, size).map_err(|_| Error::InvalidShape {
            reason: format!(
                "unflatten: Provided sizes {sizes:?} don't multiply up to the size of dim {dim} ({size}) in the input tensor"
            ),
        })?;
        let shape = self.shape();
        let target: Vec<isize> = shape[..axis.min(shape.len())]
            .iter()
            .chain(&split)
            .chain(shape.get(axis + 1..).unwrap_or(&[]))
            .map(|&size| size as isize)
            .collect();
        self.view_shape(&target)
    }

    /// A view with dimensions `source` moved to positions `destination` and
    /// the others kept in order, as PyTorch's `movedim`.
    ///
    /// ```
    /// let t = dlbridge::Tensor::zeros(dlbridge::DType::Int8, &[2, 3, 4])?;
    /// assert_eq!(t.movedim(&[0], &[-1])?.shape(), &[3, 4, 2]);
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn movedim(&self, source: &[isize], destination: &[isize]) -> Result<Tensor> {
        let ndim = self.ndim();
        if source.len() != destination.len() {
            return Err(Error::InvalidShape {
                reason: format!(
                    "movedim: Invalid source or destination dims: source ({source:?} dims) should contain the same number of dims as destination ({destination:?} dims)"
                ),
            });
        }
        // PyTorch wraps every dimension of both lists before it looks for
        // repeats.
        let wrap_all = |dims: &[isize]| -> Result<Vec<usize>> {
            dims.iter().map(|&dim| wrap_dim(dim, ndim)).collect()
        };
        let (from, to) = (wrap_all(source)?, wrap_all(destination)?);
        for (wrapped, dims, what) in [(&from, source, "source"), (&to, destination, "destination")]
        {
            let mut seen = vec![false; ndim.max(1)];
            if wrapped
                .iter()
                .any(|&axis| std::mem::replace(&mut seen[axis], true))
            {
                return Err(Error::InvalidShape {
                    reason: format!("movedim: repeated dim in `{what}` ({dims:?})"),
                });
            }
        }
        if ndim == 0 {
            return Ok(self.clone());
        }
        let mut order = vec![usize::MAX; ndim];
        for (&src, &dst) in from.iter().zip(&to) {
            order[dst] = src;
        }
        let mut rest = (0..ndim).filter(|axis| !from.contains(axis));
        for slot in order.iter_mut().filter(|slot| **slot == usize::MAX) {
            *slot = rest.next().expect("as many free places as unmoved dims");
        }
        self.permute(&order)
    }

    /// A view of the diagonal of dimensions `dim1` and `dim2` (shifted by
    /// `offset`, above the main diagonal when positive), appended as the last
    /// dimension, as PyTorch's `diagonal`.
    ///
    /// ```
    /// let t = dlbridge::Tensor::from_vec((0..9).collect::<Vec<i64>>(), &[3, 3])?;
    /// let d = t.diagonal(0, 0, 1)?;
    /// assert_eq!((d.shape(), d.strides()), (&[3][..], &[4][..]));
    /// assert_eq!(t.diagonal(1, 0, 1)?.data_ptr(), t.data_ptr().wrapping_add(8));
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn diagonal(&self, offset: isize, dim1: isize, dim2: isize) -> Result<Tensor> {
        let ndim = self.ndim();
        let (a, b) = (wrap_dim(dim1, ndim)?, wrap_dim(dim2, ndim)?);
        if a == b {
            return Err(Error::InvalidShape {
                reason: format!("diagonal dimensions cannot be identical {dim1}, {dim2}"),
            });
        }
        let (size_a, size_b) = (self.shape()[a] as isize, self.shape()[b] as isize);
        let (stride_a, stride_b) = (self.strides()[a], self.strides()[b]);
        let length = if offset >= 0 {
            size_a.min(size_b - offset).max(0)
        } else {
            (size_a + offset).min(size_b).max(0)
        };
        let mut start = Some(self.layout().offset());
        if length > 0 {
            // A non-empty diagonal starts at an element, so these fit; they
            // are checked all the same, like every step below.
            let step = if offset >= 0 {
                offset.checked_mul(stride_b)
            } else {
                offset.checked_neg().and_then(|o| o.checked_mul(stride_a))
            };
            start = step.and_then(|step| start?.checked_add(step));
        }
        let (Some(start), Some(stride)) = (start, stride_a.checked_add(stride_b)) else {
            return Err(self.overflow());
        };
        let axes = (0..ndim).filter(|&axis| axis != a && axis != b);
        let mut shape: DimVec<usize> = axes.clone().map(|axis| self.shape()[axis]).collect();
        let mut strides: DimVec<isize> = axes.map(|axis| self.strides()[axis]).collect();
        shape.push(length as usize);
        strides.push(stride);
        self.with_layout(Layout::new(&shape, &strides, start)?)
    }

    /// A view of every window of `size` elements along `dim`, `step`
    /// apart, as a new last dimension, as PyTorch's `unfold`.
    ///
    /// ```
    /// let t = dlbridge::Tensor::from_vec((0..7).collect::<Vec<i16>>(), &[7])?;
    /// let w = t.unfold(0, 3, 2)?;
    /// assert_eq!((w.shape(), w.strides()), (&[3, 3][..], &[2, 1][..]));
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn unfold(&self, dim: isize, size: isize, step: isize) -> Result<Tensor> {
        // PyTorch's order of checks: the dimension, the window against it,
        // then the window and the step themselves.
        let axis = wrap_dim(dim, self.ndim())?;
        let length = self.shape().get(axis).copied().unwrap_or(1);
        let refuse = |reason: String| Err(Error::InvalidShape { reason });
        if size > length as isize {
            return refuse(format!(
                "maximum size for tensor at dimension {axis} is {length} but size is {size}"
            ));
        }
        if size < 0 {
            return refuse(format!("size is {size} but must be >= 0"));
        }
        if step <= 0 {
            return refuse(format!("step is {step} but must be > 0"));
        }
        let (size, step) = (size as usize, step as usize);
        if self.ndim() == 0 {
            return self.with_layout(Layout::new(&[size], &[1], self.layout().offset())?);
        }
        let (mut shape, mut strides) = (
            DimVec::from_slice(self.shape()),
            DimVec::from_slice(self.strides()),
        );
        let stride = strides[axis];
        shape[axis] = (length - size) / step + 1;
        // torch's "numel: integer multiplication overflow" and a window
        // stride that does not fit are refused by `Layout::new` and here.
        strides[axis] = stride
            .checked_mul(step as isize)
            .ok_or_else(|| self.overflow())?;
        shape.push(size);
        strides.push(stride);
        layout::check_ndim(shape.len())?;
        self.with_layout(Layout::new(&shape, &strides, self.layout().offset())?)
    }
}

impl Tensor {
    /// A view of index `index` (which may count from the end) of dimension
    /// `dim`, that dimension removed, as PyTorch's `select`. Fails with
    /// [`Error::TooManyIndices`] for a 0-d tensor, [`Error::DimOutOfRange`]
    /// and [`Error::IndexOutOfRange`].
    ///
    /// ```
    /// let t = dlbridge::Tensor::from_vec((0..12).collect::<Vec<i32>>(), &[3, 4])?;
    /// let column = t.select(1, -1)?;
    /// assert_eq!((column.shape(), column.strides()), (&[3][..], &[4][..]));
    /// assert_eq!(column.storage_offset(), 3);
    /// assert!(t.select(0, 3).is_err());
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn select(&self, dim: isize, index: isize) -> Result<Tensor> {
        let ndim = self.ndim();
        if ndim == 0 {
            return Err(Error::TooManyIndices { ndim: 0, given: 1 });
        }
        let axis = wrap_dim(dim, ndim)?;
        let size = self.shape()[axis];
        let position = if index < 0 {
            index.checked_add_unsigned(size)
        } else {
            Some(index)
        };
        let Some(position) = position.filter(|&p| p >= 0 && (p as usize) < size) else {
            return Err(Error::IndexOutOfRange { index, axis, size });
        };
        // An element of a valid layout: its offset fits.
        let offset = self.layout().offset() + position * self.strides()[axis];
        let (mut shape, mut strides) = (
            DimVec::from_slice(self.shape()),
            DimVec::from_slice(self.strides()),
        );
        shape.remove(axis);
        strides.remove(axis);
        self.with_layout(Layout::new(&shape, &strides, offset)?)
    }

    /// The transpose of a matrix, as PyTorch's `t()`: a 0-d or 1-d tensor
    /// comes back as it is. Fails with [`Error::InvalidShape`] for more than
    /// two dimensions.
    ///
    /// ```
    /// let t = dlbridge::Tensor::zeros(dlbridge::DType::Int8, &[2, 3])?;
    /// assert_eq!(t.t()?.strides(), &[1, 3]);
    /// assert!(dlbridge::Tensor::zeros(dlbridge::DType::Int8, &[2, 2, 2])?.t().is_err());
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn t(&self) -> Result<Tensor> {
        match self.ndim() {
            0 | 1 => Ok(self.clone()),
            2 => self.transpose(0, 1),
            ndim => Err(Error::InvalidShape {
                reason: format!("t() expects a tensor with <= 2 dimensions, but self is {ndim}D"),
            }),
        }
    }

    /// `sections` views along `dim`, as equal in length as can be (the
    /// first `length % sections` one longer), as PyTorch's `tensor_split`
    /// with an int and NumPy's `array_split`. Fails with
    /// [`Error::InvalidShape`] for a 0-d tensor or fewer than one section,
    /// [`Error::DimOutOfRange`], and [`Error::TooManyViews`].
    ///
    /// ```
    /// let t = dlbridge::Tensor::zeros(dlbridge::DType::Int8, &[7])?;
    /// let lengths: Vec<_> = t.tensor_split(3, 0)?.iter().map(|p| p.shape()[0]).collect();
    /// assert_eq!(lengths, [3, 2, 2]);
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn tensor_split(&self, sections: isize, dim: isize) -> Result<Vec<Tensor>> {
        let axis = self.tensor_split_axis(
            dim,
            (sections <= 0)
                .then(|| format!("number of sections must be larger than 0, got {sections}")),
        )?;
        let length = self.shape()[axis];
        let sections = sections as usize;
        let (shortest, longer) = (length / sections, length % sections);
        let mut views = reserve_views(sections)?;
        let mut start = 0;
        for piece in 0..sections {
            let size = shortest + usize::from(piece < longer);
            views.push(self.narrow(axis as isize, start as isize, size as isize)?);
            start += size;
        }
        Ok(views)
    }

    /// Views along `dim` split before each of `indices`, as PyTorch's
    /// `tensor_split` with a list and NumPy's `array_split`: indices count
    /// from the end when negative and are clamped to the dimension as
    /// slice bounds are, so a decreasing one gives an empty piece. Fails as
    /// [`Tensor::tensor_split`] does.
    ///
    /// ```
    /// let t = dlbridge::Tensor::zeros(dlbridge::DType::Int8, &[7])?;
    /// let lengths: Vec<_> =
    ///     t.tensor_split_indices(&[2, -2, 1], 0)?.iter().map(|p| p.shape()[0]).collect();
    /// assert_eq!(lengths, [2, 3, 0, 6]);
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn tensor_split_indices(&self, indices: &[isize], dim: isize) -> Result<Vec<Tensor>> {
        let axis = self.tensor_split_axis(dim, None)?;
        let length = self.shape()[axis] as isize;
        // ATen's `slice` bounds: wrapped once, then clamped to [0, length].
        let clamp = |bound: isize| {
            let bound = if bound < 0 {
                bound.saturating_add(length)
            } else {
                bound
            };
            bound.clamp(0, length)
        };
        let mut views = reserve_views(indices.len().saturating_add(1))?;
        let mut start = 0;
        for &end in indices.iter().chain(std::iter::once(&length)) {
            let (first, last) = (clamp(start), clamp(end));
            views.push(self.narrow(axis as isize, first, (last - first).max(0))?);
            start = end;
        }
        Ok(views)
    }

    /// The dimension `tensor_split` splits, after PyTorch's checks in its
    /// order: a 0-d tensor, then the sections (`sections_error`), then
    /// the dimension.
    fn tensor_split_axis(&self, dim: isize, sections_error: Option<String>) -> Result<usize> {
        if self.ndim() == 0 {
            return Err(Error::InvalidShape {
                reason: "tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims".into(),
            });
        }
        if let Some(reason) = sections_error {
            return Err(Error::InvalidShape { reason });
        }
        wrap_dim(dim, self.ndim())
    }
}

impl Tensor {
    /// Views of consecutive pieces of `size` elements along `dim` (the last
    /// may be shorter), as PyTorch's `split` with an int.
    ///
    /// ```
    /// let t = dlbridge::Tensor::zeros(dlbridge::DType::Int8, &[5, 2])?;
    /// let shapes: Vec<_> = t.split(2, 0)?.iter().map(|p| p.shape()[0]).collect();
    /// assert_eq!(shapes, [2, 2, 1]);
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn split(&self, size: isize, dim: isize) -> Result<Vec<Tensor>> {
        let refuse = |reason: String| Err(Error::InvalidShape { reason });
        if self.ndim() == 0 {
            return refuse("split expects at least a 1-dimensional tensor".into());
        }
        // PyTorch checks the size before the dimension.
        if size < 0 {
            return refuse(format!(
                "split expects split_size be non-negative, but got split_size={size}"
            ));
        }
        let axis = wrap_dim(dim, self.ndim())?;
        let length = self.shape()[axis] as isize;
        if size == 0 && length != 0 {
            return refuse(format!(
                "split_size can only be 0 if dimension size is 0, but got dimension size of {length}"
            ));
        }
        let pieces = if size == 0 {
            1
        } else {
            // Rounded up without `length + size - 1`, which overflows for
            // a huge size.
            ceil_div(length, size).max(1)
        };
        let mut views = reserve_views(pieces as usize)?;
        for piece in 0..pieces {
            let start = piece * size;
            views.push(self.narrow(axis as isize, start, size.min(length - start))?);
        }
        Ok(views)
    }

    /// Views of consecutive pieces of the given `sizes` along `dim`, which
    /// must add up to its length, as PyTorch's `split` with a list.
    ///
    /// ```
    /// let t = dlbridge::Tensor::zeros(dlbridge::DType::Int8, &[5])?;
    /// assert_eq!(t.split_sizes(&[1, 4], 0)?[1].shape(), &[4]);
    /// assert!(t.split_sizes(&[2, 2], 0).is_err());
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn split_sizes(&self, sizes: &[isize], dim: isize) -> Result<Vec<Tensor>> {
        if self.ndim() == 0 {
            return Err(Error::InvalidShape {
                reason: "split expects at least a 1-dimensional tensor".into(),
            });
        }
        let axis = wrap_dim(dim, self.ndim())?;
        let length = self.shape().get(axis).copied().unwrap_or(1) as isize;
        if sizes.iter().any(|&size| size < 0) {
            return Err(Error::InvalidShape {
                reason: format!(
                    "split_with_sizes expects split_sizes have only non-negative entries, but got split_sizes={sizes:?}"
                ),
            });
        }
        let total = sizes
            .iter()
            .try_fold(0isize, |total, &size| total.checked_add(size));
        if total != Some(length) {
            return Err(Error::InvalidShape {
                reason: format!(
                    "split_with_sizes expects split_sizes to sum exactly to {length} (input tensor's size at dimension {axis}), but got split_sizes={sizes:?}"
                ),
            });
        }
        let mut views = reserve_views(sizes.len())?;
        let mut start = 0;
        for &size in sizes {
            views.push(self.narrow(axis as isize, start, size)?);
            start += size;
        }
        Ok(views)
    }

    /// `chunks` views along `dim` of equal length but the last (fewer when
    /// the length does not allow so many), as PyTorch's `chunk`.
    ///
    /// ```
    /// let t = dlbridge::Tensor::zeros(dlbridge::DType::Int8, &[5])?;
    /// let lengths: Vec<_> = t.chunk(2, 0)?.iter().map(|p| p.shape()[0]).collect();
    /// assert_eq!(lengths, [3, 2]);
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn chunk(&self, chunks: isize, dim: isize) -> Result<Vec<Tensor>> {
        if self.ndim() == 0 {
            return Err(Error::InvalidShape {
                reason: "chunk expects at least a 1-dimensional tensor".into(),
            });
        }
        if chunks <= 0 {
            return Err(Error::InvalidShape {
                reason: format!("chunk expects `chunks` to be greater than 0, got: {chunks}"),
            });
        }
        let axis = wrap_dim(dim, self.ndim())?;
        let length = self.shape()[axis] as isize;
        if length == 0 {
            // PyTorch gives `chunks` empty pieces here (`split_with_sizes`
            // of zeros), each the dimension narrowed to nothing.
            let mut views = reserve_views(chunks as usize)?;
            for _ in 0..chunks {
                views.push(self.narrow(axis as isize, 0, 0)?);
            }
            return Ok(views);
        }
        self.split(ceil_div(length, chunks), dim)
    }

    /// A view of each index of `dim`, that dimension removed, as PyTorch's
    /// `unbind`.
    ///
    /// ```
    /// let t = dlbridge::Tensor::zeros(dlbridge::DType::Int8, &[2, 3])?;
    /// let columns = t.unbind(1)?;
    /// assert_eq!((columns.len(), columns[0].shape()), (3, &[2][..]));
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn unbind(&self, dim: isize) -> Result<Vec<Tensor>> {
        if self.ndim() == 0 {
            return Err(Error::DimOutOfRange { dim, ndim: 0 });
        }
        let axis = wrap_dim(dim, self.ndim())?;
        let mut views = reserve_views(self.shape()[axis])?;
        for index in 0..self.shape()[axis] as isize {
            views.push(
                self.narrow(axis as isize, index, 1)?
                    .squeeze(Some(axis as isize))?,
            );
        }
        Ok(views)
    }

    /// The error of a view whose strides or offset would leave `isize`.
    fn overflow(&self) -> Error {
        Error::LayoutOverflow {
            shape: self.shape().to_vec(),
            strides: self.strides().to_vec(),
            offset: self.layout().offset(),
        }
    }
}

/// `n / d` rounded up, for `n >= 0` and `d > 0`, without overflow.
fn ceil_div(n: isize, d: isize) -> isize {
    if n == 0 { 0 } else { (n - 1) / d + 1 }
}

/// Room for `count` views, reserved before any is built, so that the work
/// of `split`, `chunk` and `unbind` is bounded by what memory can hold, not
/// by the count asked for (`unbind` of a 2**62-long broadcast view): fails
/// with [`Error::TooManyViews`] when it cannot be had.
fn reserve_views(count: usize) -> Result<Vec<Tensor>> {
    let mut views = Vec::new();
    views
        .try_reserve_exact(count)
        .map_err(|_| Error::TooManyViews { count })?;
    Ok(views)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;

    #[test]
    fn dimensions_wrap_as_in_pytorch() {
        assert_eq!(wrap_dim(-1, 3).unwrap(), 2);
        assert_eq!(wrap_dim(0, 0).unwrap(), 0); // a 0-d tensor takes 0 and -1
        assert_eq!(wrap_dim(-1, 0).unwrap(), 0);
        assert!(matches!(
            wrap_dim(3, 3),
            Err(Error::DimOutOfRange { dim: 3, ndim: 3 })
        ));
        assert!(matches!(wrap_dim(-4, 3), Err(Error::DimOutOfRange { .. })));
    }

    #[test]
    fn shapes_are_inferred_as_in_pytorch() {
        assert_eq!(infer_shape(&[2, -1], 6).unwrap(), vec![2, 3]);
        assert_eq!(infer_shape(&[0, 3], 0).unwrap(), vec![0, 3]);
        let message = |shape: &[isize], numel| infer_shape(shape, numel).unwrap_err().to_string();
        assert_eq!(
            message(&[4, -1], 6),
            "shape '[4, -1]' is invalid for input of size 6"
        );
        assert_eq!(message(&[-1, -1], 6), "only one dimension can be inferred");
        assert_eq!(message(&[-2, 3], 6), "invalid shape dimension -2");
        assert!(message(&[-1, 0], 0).contains("ambiguous"));
    }

    #[test]
    fn views_follow_pytorchs_stride_rule() {
        // Values from torch 2.15 on the same layouts.
        let t = Tensor::zeros(DType::Int32, &[2, 3, 4]).unwrap();
        let permuted = t.permute(&[1, 0, 2]).unwrap(); // (3, 2, 4), strides (4, 12, 1)
        let v = permuted.view_shape(&[3, 2, 2, 2]).unwrap(); // splits the last run
        assert_eq!(v.strides(), &[4, 12, 2, 1]);
        assert!(matches!(
            permuted.view_shape(&[6, 4]),
            Err(Error::NotViewable { .. })
        ));
        let stepped = t
            .index(&[
                crate::IndexItem::Ellipsis,
                crate::IndexItem::Slice {
                    start: None,
                    stop: None,
                    step: Some(2),
                },
            ])
            .unwrap(); // (2, 3, 2), strides (12, 4, 2)
        assert_eq!(stepped.view_shape(&[6, 2]).unwrap().strides(), &[4, 2]);
        // Every other element of the last dimension is one uniform run.
        assert_eq!(stepped.view_shape(&[12]).unwrap().strides(), &[2]);
        // A 0-d tensor views as any shape of one element, with strides 1.
        let scalar = Tensor::zeros(DType::Int8, &[]).unwrap();
        assert_eq!(scalar.view_shape(&[1, 1]).unwrap().strides(), &[1, 1]);
    }

    #[test]
    fn unsqueeze_and_expand_take_pytorchs_strides() {
        let t = Tensor::zeros(DType::Float32, &[3]).unwrap();
        let grid = t.expand(&[1, 2, 3]).unwrap();
        assert_eq!(grid.strides(), &[0, 0, 1]);
        assert_eq!(t.expand(&[1, 1, 3]).unwrap().strides(), &[3, 3, 1]);
        assert_eq!(t.unsqueeze(0).unwrap().strides(), &[3, 1]);
        assert_eq!(t.unsqueeze(1).unwrap().strides(), &[1, 1]);
        assert!(t.expand(&[-1, 3]).is_err()); // -1 in a new leading dimension
        assert!(t.expand(&[2]).is_err()); // 3 is not a singleton
    }
}
