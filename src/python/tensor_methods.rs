//! The Python methods of `dlbridge.Tensor`: attributes, conversions, the
//! number, sequence and mapping protocols, `__dlpack__`, the buffer protocol
//! and pickling. Each is a thin call into the module that does the work.

use super::buffer;
use super::compare;
use super::device::PyDevice;
use super::dlpack_import;
use super::dtype::{self, PyDType};
use super::gil::{self, copy_to};
use super::index;
use super::nested;
use super::scalar;
use super::tensor::PyTensor;
use super::tensor_arguments::{self, Sections};
use super::torch_only;
use crate::borrow::Participation;
use crate::dtype::DType;
use crate::layout::IndexItem;
use crate::tensor::Tensor;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyComplex, PyTuple};

#[pymethods]
impl PyTensor {
    /// The size of each dimension.
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.inner.shape())
    }

    /// The number of dimensions.
    #[getter]
    fn ndim(&self) -> usize {
        self.inner.ndim()
    }

    /// The element type.
    #[getter]
    fn dtype(&self, py: Python<'_>) -> Py<PyDType> {
        dtype::instance(py, self.inner.dtype())
    }

    /// The device holding the memory.
    #[getter]
    fn device(&self) -> PyDevice {
        PyDevice::from(self.inner.device())
    }

    /// Strides in elements, as torch's `stride()` (negative for reversed
    /// views, 0 for broadcast dimensions).
    #[getter]
    fn strides<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.inner.strides())
    }

    /// A view with the dimensions reversed (shares memory).
    #[getter(T)]
    fn transposed(&self, py: Python<'_>) -> PyResult<Py<PyTensor>> {
        PyTensor::wrap(py, self.inner.transpose_all())
    }

    /// A view with dimensions reordered, as torch's `permute`:
    /// `t.permute(2, 0, 1)` or `t.permute((2, 0, 1))`. A wrong number of
    /// dims or a repeated one is torch's `RuntimeError`, a dim out of range
    /// its `IndexError`.
    #[pyo3(signature = (*dims))]
    fn permute(&self, py: Python<'_>, dims: &Bound<'_, PyTuple>) -> PyResult<Py<PyTensor>> {
        let dims = index::int_arguments(dims, "permute() dims, such as (1, 0)")?;
        PyTensor::wrap(py, self.inner.permute_dims(&dims)?)
    }

    /// The size of each dimension as a tuple, or of dimension `dim`
    /// (torch's `size()`; negative dimensions count from the end).
    #[pyo3(signature = (dim=None))]
    fn size(&self, py: Python<'_>, dim: Option<isize>) -> PyResult<Py<PyAny>> {
        match dim {
            None => Ok(PyTuple::new(py, self.inner.shape())?.into_any().unbind()),
            Some(dim) => Ok(self.inner.shape()[self.axis(dim)?]
                .into_pyobject(py)?
                .into_any()
                .unbind()),
        }
    }

    /// The stride of each dimension, in elements, as a tuple, or of dimension
    /// `dim` (torch's `stride()`).
    #[pyo3(signature = (dim=None))]
    fn stride(&self, py: Python<'_>, dim: Option<isize>) -> PyResult<Py<PyAny>> {
        match dim {
            None => Ok(PyTuple::new(py, self.inner.strides())?.into_any().unbind()),
            Some(dim) => Ok(self.inner.strides()[self.axis(dim)?]
                .into_pyobject(py)?
                .into_any()
                .unbind()),
        }
    }

    /// The number of dimensions (torch's `dim()`; also `ndim`).
    fn dim(&self) -> usize {
        self.inner.ndim()
    }

    /// Bytes per element (torch's `element_size()`; also `itemsize`).
    fn element_size(&self) -> usize {
        self.inner.itemsize()
    }

    /// A view with another shape, never a copy, as torch's `view`:
    /// `t.view(2, -1)` or `t.view((2, -1))`, one `-1` inferred. A
    /// `RuntimeError` when the layout cannot be seen with that shape (use
    /// `reshape`). `t.view(dtype)` reinterprets the bits as another dtype of
    /// the same size.
    #[pyo3(signature = (*shape))]
    fn view(&self, py: Python<'_>, shape: &Bound<'_, PyTuple>) -> PyResult<Py<PyTensor>> {
        if shape.len() == 1
            && let Ok(dtype) = dtype::extract_dtype(&shape.get_item(0)?)
        {
            return PyTensor::wrap(py, self.inner.reinterpret(dtype)?);
        }
        PyTensor::wrap(py, self.inner.view_shape(&index::shape_arguments(shape)?)?)
    }

    /// Another shape, as torch's `reshape`: a view when the layout allows
    /// one (the rule of `view`), else a contiguous copy.
    #[pyo3(signature = (*shape))]
    fn reshape(&self, py: Python<'_>, shape: &Bound<'_, PyTuple>) -> PyResult<Py<PyTensor>> {
        PyTensor::wrap(py, self.reshaped(py, &index::shape_arguments(shape)?)?)
    }

    /// Dimensions `start_dim..=end_dim` merged into one, as torch's
    /// `flatten`: a view when the layout allows, else a copy.
    #[pyo3(signature = (start_dim=0, end_dim=-1))]
    #[pyo3(text_signature = "($self, start_dim=0, end_dim=-1)")]
    fn flatten(slf: &Bound<'_, Self>, start_dim: isize, end_dim: isize) -> PyResult<Py<PyTensor>> {
        let this = slf.get();
        match this.inner.flatten_shape(start_dim, end_dim)? {
            Some(shape) => PyTensor::wrap(slf.py(), this.reshaped(slf.py(), &shape)?),
            None => Ok(slf.clone().unbind()),
        }
    }

    /// A view without size-1 dimensions (all of them, or only those of
    /// `dim`, an int or a tuple of ints), as torch's `squeeze`.
    #[pyo3(signature = (dim=None))]
    fn squeeze(&self, py: Python<'_>, dim: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyTensor>> {
        PyTensor::wrap(
            py,
            match dim.filter(|dim| !dim.is_none()) {
                Some(dims) => self.inner.squeeze_dims(&index::dims_argument(dims)?)?,
                None => self.inner.squeeze(None)?,
            },
        )
    }

    /// A view with a new dimension of size 1 at `dim`, as torch's `unsqueeze`.
    fn unsqueeze(&self, py: Python<'_>, dim: isize) -> PyResult<Py<PyTensor>> {
        PyTensor::wrap(py, self.inner.unsqueeze(dim)?)
    }

    /// A view with dimensions `dim0` and `dim1` swapped, as torch's `transpose`.
    fn transpose(&self, py: Python<'_>, dim0: isize, dim1: isize) -> PyResult<Py<PyTensor>> {
        PyTensor::wrap(py, self.inner.transpose(dim0, dim1)?)
    }

    /// A view with the last two dimensions swapped, as torch's `mT`.
    #[getter(mT)]
    fn matrix_transposed(&self, py: Python<'_>) -> PyResult<Py<PyTensor>> {
        if self.inner.ndim() == 0 {
            // torch: the identity, with a deprecation warning.
            PyErr::warn(
                py,
                &py.get_type::<pyo3::exceptions::PyUserWarning>(),
                c"Tensor.mT is deprecated on 0-D tensors. This function is the identity in these cases.",
                1,
            )?;
            return PyTensor::wrap(py, self.inner.clone());
        }
        if self.inner.ndim() < 2 {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                "tensor.mT is only supported on matrices or batches of matrices. Got {}-D tensor.",
                self.inner.ndim()
            )));
        }
        PyTensor::wrap(py, self.inner.transpose(-2, -1)?)
    }

    /// A view repeating size-1 dimensions (and adding leading ones) to reach
    /// `sizes`, as torch's `expand` (`-1` keeps a size). Nothing is copied;
    /// the repeated elements are one memory, so the view cannot be written.
    #[pyo3(signature = (*sizes))]
    fn expand(&self, py: Python<'_>, sizes: &Bound<'_, PyTuple>) -> PyResult<Py<PyTensor>> {
        PyTensor::wrap(py, self.inner.expand(&index::shape_arguments(sizes)?)?)
    }

    /// A view of `length` elements of dimension `dim` from `start` (an int
    /// or a 0-dim integral tensor), as torch's `narrow`.
    fn narrow(
        &self,
        py: Python<'_>,
        dim: isize,
        start: &Bound<'_, PyAny>,
        length: isize,
    ) -> PyResult<Py<PyTensor>> {
        let start = tensor_arguments::narrow_start(start)?;
        PyTensor::wrap(py, self.inner.narrow(dim, start, length)?)
    }

    /// Dimension `dim` split into `sizes` (one `-1` inferred), as torch's
    /// `unflatten`.
    fn unflatten(&self, py: Python<'_>, dim: isize, sizes: Vec<isize>) -> PyResult<Py<PyTensor>> {
        PyTensor::wrap(py, self.inner.unflatten(dim, &sizes)?)
    }

    /// A view with dimensions `source` (an int or a sequence) moved to
    /// `destination`, as torch's `movedim`.
    fn movedim(
        &self,
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        destination: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyTensor>> {
        // torch takes two ints or two sequences, not one of each.
        let (source, destination) = match (
            source.extract::<isize>(),
            destination.extract::<isize>(),
        ) {
            (Ok(source), Ok(destination)) => (vec![source], vec![destination]),
            (Err(_), Err(_)) => (
                source.extract::<Vec<isize>>()?,
                destination.extract::<Vec<isize>>()?,
            ),
            _ => {
                return Err(PyTypeError::new_err(
                    "movedim() takes two ints or two sequences of ints as source and destination",
                ));
            }
        };
        PyTensor::wrap(py, self.inner.movedim(&source, &destination)?)
    }

    /// A view of a diagonal of dimensions `dim1` and `dim2`, as torch's
    /// `diagonal`.
    #[pyo3(signature = (offset=0, dim1=0, dim2=1))]
    fn diagonal(
        &self,
        py: Python<'_>,
        offset: isize,
        dim1: isize,
        dim2: isize,
    ) -> PyResult<Py<PyTensor>> {
        PyTensor::wrap(py, self.inner.diagonal(offset, dim1, dim2)?)
    }

    /// A view of every window of `size` elements along `dimension`, `step`
    /// apart, as torch's `unfold`.
    fn unfold(
        &self,
        py: Python<'_>,
        dimension: isize,
        size: isize,
        step: isize,
    ) -> PyResult<Py<PyTensor>> {
        PyTensor::wrap(py, self.inner.unfold(dimension, size, step)?)
    }

    /// Views of consecutive pieces along `dim`, as torch's `split`: of
    /// `split_size_or_sections` elements each (the last may be shorter), or
    /// of the lengths in a sequence, which must add up to the dimension.
    #[pyo3(signature = (split_size_or_sections, dim=0))]
    fn split<'py>(
        &self,
        py: Python<'py>,
        split_size_or_sections: &Bound<'py, PyAny>,
        dim: isize,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let pieces = match split_size_or_sections.extract::<isize>() {
            Ok(size) => self.inner.split(size, dim)?,
            Err(_) => self
                .inner
                .split_sizes(&split_size_or_sections.extract::<Vec<isize>>()?, dim)?,
        };
        wrap_all(py, pieces)
    }

    /// `chunks` views of (nearly) equal length along `dim`, as torch's
    /// `chunk`.
    #[pyo3(signature = (chunks, dim=0))]
    fn chunk<'py>(
        &self,
        py: Python<'py>,
        chunks: isize,
        dim: isize,
    ) -> PyResult<Bound<'py, PyTuple>> {
        wrap_all(py, self.inner.chunk(chunks, dim)?)
    }

    /// A view of each index of `dim`, that dimension removed, as torch's
    /// `unbind`.
    #[pyo3(signature = (dim=0))]
    fn unbind<'py>(&self, py: Python<'py>, dim: isize) -> PyResult<Bound<'py, PyTuple>> {
        wrap_all(py, self.inner.unbind(dim)?)
    }

    /// A view of index `index` of dimension `dim`, that dimension removed,
    /// as torch's `select` (`t.select(0, i)` is `t[i]`).
    fn select(&self, py: Python<'_>, dim: isize, index: isize) -> PyResult<Py<PyTensor>> {
        PyTensor::wrap(py, self.inner.select(dim, index)?)
    }

    /// Views along `dim`, as torch's `tensor_split` and NumPy's
    /// `array_split`: `indices_or_sections` pieces of (nearly) equal length
    /// for an int, pieces split before each index for a sequence of ints
    /// (or a 0-dim or 1-dim integral tensor of either).
    #[pyo3(signature = (indices_or_sections, dim=0))]
    fn tensor_split<'py>(
        &self,
        py: Python<'py>,
        indices_or_sections: &Bound<'py, PyAny>,
        dim: isize,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let pieces = match tensor_arguments::sections_or_indices(indices_or_sections)? {
            Sections::Count(sections) => self.inner.tensor_split(sections, dim)?,
            Sections::Indices(indices) => self.inner.tensor_split_indices(&indices, dim)?,
        };
        wrap_all(py, pieces)
    }

    /// The transpose of a matrix, as torch's `t()`: 0-d and 1-d tensors come
    /// back as they are, more dimensions are a `RuntimeError`.
    fn t(&self, py: Python<'_>) -> PyResult<Py<PyTensor>> {
        PyTensor::wrap(py, self.inner.t()?)
    }

    /// `transpose(axis0, axis1)` under NumPy's name, as torch's `swapaxes`.
    fn swapaxes(&self, py: Python<'_>, axis0: isize, axis1: isize) -> PyResult<Py<PyTensor>> {
        PyTensor::wrap(py, self.inner.transpose(axis0, axis1)?)
    }

    /// `transpose(dim0, dim1)`, as torch's `swapdims`.
    fn swapdims(&self, py: Python<'_>, dim0: isize, dim1: isize) -> PyResult<Py<PyTensor>> {
        PyTensor::wrap(py, self.inner.transpose(dim0, dim1)?)
    }

    /// `movedim(source, destination)` under NumPy's name, as torch's
    /// `moveaxis`.
    fn moveaxis(
        &self,
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        destination: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyTensor>> {
        self.movedim(py, source, destination)
    }

    /// The elements as one dimension, as torch's `ravel`: a view of a
    /// contiguous tensor, else a contiguous copy.
    fn ravel(&self, py: Python<'_>) -> PyResult<Py<PyTensor>> {
        let source = if self.inner.is_contiguous() {
            self.inner.clone()
        } else {
            copy_to(py, &self.inner, self.inner.dtype())?
        };
        PyTensor::wrap(py, source.view_shape(&[-1])?)
    }

    /// `view(other.shape)`, as torch's `view_as` (`other` is any tensor).
    fn view_as(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyTensor>> {
        let shape = tensor_arguments::shape_of(other)?;
        PyTensor::wrap(py, self.inner.view_shape(&shape)?)
    }

    /// `reshape(other.shape)`, as torch's `reshape_as`.
    fn reshape_as(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyTensor>> {
        let shape = tensor_arguments::shape_of(other)?;
        PyTensor::wrap(py, self.reshaped(py, &shape)?)
    }

    /// `expand(other.shape)`, as torch's `expand_as`.
    fn expand_as(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyTensor>> {
        let shape = tensor_arguments::shape_of(other)?;
        PyTensor::wrap(py, self.inner.expand(&shape)?)
    }

    /// A view of this tensor's storage with the given sizes and strides (in
    /// elements), `storage_offset` elements from the storage's start (this
    /// tensor's offset when `None`), as torch's `as_strided`. Any layout
    /// inside the storage is accepted; one reaching outside it, negative
    /// strides and offsets are torch's `RuntimeError`.
    #[pyo3(signature = (size, stride, storage_offset=None))]
    fn as_strided(
        &self,
        py: Python<'_>,
        size: Vec<isize>,
        stride: Vec<isize>,
        storage_offset: Option<isize>,
    ) -> PyResult<Py<PyTensor>> {
        PyTensor::wrap(py, self.inner.as_strided(&size, &stride, storage_offset)?)
    }

    /// How many elements lie between the start of the storage and the first
    /// element, as torch's `storage_offset()`.
    fn storage_offset(&self) -> isize {
        self.inner.storage_offset()
    }

    /// `dir(t)`, without the torch method names that are on the class only
    /// to say where those methods are (`torch_only`).
    fn __dir__<'py>(slf: &Bound<'py, Self>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        torch_only::dir(slf)
    }

    /// Bytes per element.
    #[getter]
    fn itemsize(&self) -> usize {
        self.inner.itemsize()
    }

    /// Bytes the elements occupy (`numel() * itemsize`).
    #[getter]
    fn nbytes(&self) -> usize {
        self.inner.nbytes()
    }

    /// Whether writes are refused (the source was read-only).
    #[getter]
    fn readonly(&self) -> bool {
        self.inner.is_readonly()
    }

    /// The number of elements.
    fn numel(&self) -> usize {
        self.inner.numel()
    }

    /// The address of the first element, offset included.
    fn data_ptr(&self) -> usize {
        self.inner.data_ptr() as usize
    }

    /// Whether the elements are row-major with no gaps.
    fn is_contiguous(&self) -> bool {
        self.inner.is_contiguous()
    }

    /// `self` when already contiguous, else a contiguous copy.
    fn contiguous(slf: &Bound<'_, Self>) -> PyResult<Py<PyTensor>> {
        let inner = &slf.get().inner;
        if inner.is_contiguous() {
            return Ok(slf.clone().unbind());
        }
        PyTensor::wrap(slf.py(), copy_to(slf.py(), inner, inner.dtype())?)
    }

    /// A deep copy in fresh, writable, C-contiguous memory.
    fn clone(&self, py: Python<'_>) -> PyResult<Py<PyTensor>> {
        PyTensor::wrap(py, copy_to(py, &self.inner, self.inner.dtype())?)
    }

    /// `self` when the dtype already matches, else a converted copy.
    fn to(slf: &Bound<'_, Self>, dtype: &Bound<'_, PyAny>) -> PyResult<Py<PyTensor>> {
        let inner = &slf.get().inner;
        // `t.to(None)` changes nothing, as in torch (NumPy would read None
        // as float64).
        let dtype = dtype::optional_dtype(Some(dtype))?.unwrap_or(inner.dtype());
        if inner.dtype() == dtype {
            return Ok(slf.clone().unbind());
        }
        PyTensor::wrap(slf.py(), copy_to(slf.py(), inner, dtype)?)
    }

    /// A NumPy array sharing this tensor's memory (read-only if the tensor
    /// is).
    ///
    /// NumPy has no bfloat16 of its own: with `ml_dtypes` installed a
    /// bfloat16 tensor gives an `ml_dtypes.bfloat16` array over the same
    /// memory, and without it a `TypeError`.
    fn numpy<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        // Built with NumPy's C API over the same storage, with no DLPack
        // capsule and no Python call (`Tensor::into_numpy`).
        slf.get().inner.clone().into_numpy(slf.py())
    }

    /// NumPy 2's array protocol: shares memory unless `dtype` differs or
    /// `copy=True`; `copy=False` refuses to convert.
    #[pyo3(signature = (dtype=None, copy=None))]
    fn __array__<'py>(
        slf: &Bound<'py, Self>,
        dtype: Option<&Bound<'py, PyAny>>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let dtype = dtype.filter(|d| !d.is_none());
        if dtype.is_some() && slf.get().inner.dtype() == DType::BFloat16 {
            // NumPy cannot view bfloat16, but a conversion was asked for
            // anyway: go through float32, which holds every bfloat16 exactly.
            if copy == Some(false) {
                return Err(PyValueError::new_err(
                    "converting bfloat16 for NumPy requires a copy, but copy=False",
                ));
            }
            let widened = PyTensor::wrap(
                slf.py(),
                copy_to(slf.py(), &slf.get().inner, DType::Float32)?,
            )?;
            return Self::__array__(widened.bind(slf.py()), dtype, None);
        }
        let array = Self::numpy(slf)?;
        if let Some(dtype) = dtype {
            let numpy = slf.py().import("numpy")?;
            let wanted = numpy.getattr("dtype")?.call1((dtype,))?;
            if !array.getattr("dtype")?.eq(&wanted)? {
                if copy == Some(false) {
                    return Err(PyValueError::new_err(format!(
                        "converting {} to {} requires a copy, but copy=False",
                        slf.get().inner.dtype(),
                        wanted.str()?
                    )));
                }
                return array.call_method1("astype", (wanted,));
            }
        }
        if copy == Some(true) {
            return array.call_method0("copy");
        }
        Ok(array)
    }

    /// The elements as nested Python lists (a scalar for a 0-d tensor).
    fn tolist<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        nested::to_nested_list(py, &self.inner)
    }

    /// The value of a one-element tensor as a Python number.
    fn item<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        scalar::scalar_to_py(py, self.inner.item_with(Participation::CheckOnly)?)
    }

    /// The truth value of a one-element tensor; ambiguous otherwise, as in
    /// NumPy and PyTorch.
    fn __bool__(&self) -> PyResult<bool> {
        if self.inner.numel() != 1 {
            return Err(PyValueError::new_err(format!(
                "the truth value of a tensor with {} elements is ambiguous",
                self.inner.numel()
            )));
        }
        let value = self.inner.item_with(Participation::CheckOnly)?;
        Ok(value.cast_to(DType::Bool) == crate::Scalar::Bool(true))
    }

    /// Iterates over the first dimension, giving views, one at a time (a
    /// broadcast tensor of 2**40 rows gives its first row at once).
    fn __iter__(&self) -> PyResult<TensorIterator> {
        let Some(&len) = self.inner.shape().first() else {
            return Err(PyTypeError::new_err("iteration over a 0-d tensor"));
        };
        Ok(TensorIterator {
            tensor: self.inner.clone(),
            next: std::sync::atomic::AtomicUsize::new(0),
            len,
        })
    }

    /// The value of a one-element tensor as a Python `int` (floats truncate
    /// toward zero), as `int(torch_tensor)`.
    fn __int__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let value = self.number()?;
        if let crate::Scalar::Complex(..) = value {
            return Err(PyTypeError::new_err(format!(
                "cannot convert a {} tensor to int",
                self.inner.dtype()
            )));
        }
        // Python's own `__int__` truncates floats and refuses NaN
        // (ValueError) and infinities (OverflowError), as `int(x)` does.
        scalar::scalar_to_py(py, value)?.call_method0(pyo3::intern!(py, "__int__"))
    }

    /// The value of a one-element tensor as a Python `float`.
    fn __float__(&self) -> PyResult<f64> {
        match self.number()? {
            crate::Scalar::Complex(..) => Err(PyTypeError::new_err(format!(
                "cannot convert a {} tensor to float",
                self.inner.dtype()
            ))),
            value => Ok(value.cast_to(DType::Float64).as_f64()),
        }
    }

    /// The value of a one-element tensor as a Python `complex`.
    fn __complex__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyComplex>> {
        Ok(match self.number()?.cast_to(DType::Complex128) {
            crate::Scalar::Complex(re, im) => PyComplex::from_doubles(py, re, im),
            _ => unreachable!("cast_to complex128 gives a complex value"),
        })
    }

    /// A one-element integer (or bool) tensor as an index, as torch allows
    /// (`[10, 20][t]`); floats and larger tensors raise `TypeError`.
    fn __index__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let dtype = self.inner.dtype();
        if self.inner.numel() != 1 || !matches!(dtype.kind(), crate::Kind::Int | crate::Kind::Bool)
        {
            return Err(PyTypeError::new_err(format!(
                "only integer tensors of a single element can be converted to an index \
                 (got a {dtype} tensor of shape {:?})",
                self.inner.shape()
            )));
        }
        let value = match self.inner.item()? {
            crate::Scalar::Bool(b) => crate::Scalar::Int(i64::from(b)),
            value => value,
        };
        scalar::scalar_to_py(py, value)
    }

    /// `self == other`, element-wise with broadcasting: a `bool` tensor, as
    /// in torch. Numbers take the tensor's dtype when of its kind or lower.
    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.compare(py, other, true)
    }

    /// `self != other`, element-wise: the negation of `==`.
    fn __ne__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.compare(py, other, false)
    }

    /// Tensors hash by identity, as torch tensors do (`==` is element-wise,
    /// so equal values cannot give equal hashes).
    fn __hash__(slf: &Bound<'_, Self>) -> isize {
        slf.as_ptr() as isize
    }

    /// `element in t`: whether any element equals `element` (a number or a
    /// tensor, broadcast), as in torch.
    fn __contains__(&self, element: &Bound<'_, PyAny>) -> PyResult<bool> {
        compare::contains(&self.inner, element)
    }

    fn __len__(&self) -> PyResult<usize> {
        self.inner
            .shape()
            .first()
            .copied()
            .ok_or_else(|| PyTypeError::new_err("len() of a 0-d tensor"))
    }

    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyTensor>> {
        let items = index::parse_key(key)?;
        PyTensor::wrap(py, self.inner.index(&items)?)
    }

    fn __setitem__(&self, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let items = index::parse_key(key)?;
        let target = self.inner.index(&items)?;
        if target.is_readonly() {
            return Err(crate::Error::ReadOnly.into());
        }
        if nested::is_plain_number(value) {
            // Converted as `tensor_from_nested` converts it, without the
            // 0-d tensor in between.
            let number = scalar::extract_scalar(value)?;
            return Ok(target.fill_with(number, Participation::CheckOnly)?);
        }
        let source = if dlpack_import::is_dlpack_source(value)? {
            dlpack_import::import_copy(value)?
        } else {
            nested::tensor_from_nested(value, Some(target.dtype()))?
        };
        // Checked, not registered: another Python thread must never see this
        // write as a borrow; a Rust borrow of either side still refuses it.
        target.assign_with(&source, Participation::CheckOnly)?;
        Ok(())
    }

    /// Tensors have a fixed shape: `del t[i]` is a `TypeError`, as in torch.
    fn __delitem__(&self, _key: &Bound<'_, PyAny>) -> PyResult<()> {
        Err(PyTypeError::new_err(
            "dlbridge.Tensor does not support item deletion",
        ))
    }

    fn __repr__(&self) -> String {
        crate::format::render(&self.inner, Participation::CheckOnly)
    }

    fn __str__(&self) -> String {
        crate::format::render(&self.inner, Participation::CheckOnly)
    }

    /// The buffer protocol: `memoryview(t)` shares the tensor's memory, with
    /// its format, shape and byte strides; read-only tensors give read-only
    /// views.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut pyo3::ffi::Py_buffer,
        flags: std::ffi::c_int,
    ) -> PyResult<()> {
        // SAFETY: CPython passes a valid Py_buffer to fill.
        unsafe { buffer::get_buffer(slf, view, flags) }
    }

    unsafe fn __releasebuffer__(&self, view: *mut pyo3::ffi::Py_buffer) {
        // SAFETY: `view` was filled by `__getbuffer__`.
        unsafe { buffer::release_buffer(view) }
    }

    /// Moves the tensor's memory into shared memory, in place, and returns
    /// the tensor (torch's `share_memory_()`): sent to another process
    /// through `multiprocessing` from then on, it goes as a handle, and both
    /// processes see each other's writes. A no-op when already shared.
    fn share_memory_<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, Self>> {
        gil::share_memory(slf.py(), &slf.get().inner)?;
        Ok(slf.clone())
    }

    /// Whether the tensor's memory is in shared memory (`share_memory_()`,
    /// or received from another process).
    fn is_shared(&self) -> bool {
        self.inner.is_shared()
    }

    /// What `multiprocessing` sends for a shared tensor
    /// (`python/dlbridge/_multiprocessing.py`): the segment's file descriptor
    /// (still this process's, to be duplicated), the first element's offset in
    /// it, shape, strides, dtype name and read-only flag; `None` when the
    /// tensor is not shared.
    #[allow(clippy::type_complexity)]
    fn _shared_handle(&self) -> Option<(i32, usize, Vec<usize>, Vec<isize>, &'static str, bool)> {
        use std::os::fd::AsRawFd;
        let inner = &self.inner;
        let handle = inner.shared_handle()?;
        Some((
            handle.fd.as_raw_fd(),
            handle.offset,
            inner.shape().to_vec(),
            inner.strides().to_vec(),
            inner.dtype().name(),
            inner.is_readonly(),
        ))
    }

    /// Pickling with protocol 5 and newer (PEP 574): the tensor's memory
    /// goes as one `pickle.PickleBuffer`, which a `buffer_callback` (Ray,
    /// Dask, multiprocessing's shared memory) can send out of band with no
    /// copy, and which `pickle.loads` gives back to `_rebuild_tensor_from_buffer`
    /// to adopt, again with no copy. A tensor that is not C-contiguous is
    /// made so once first. Older protocols take `__reduce__`'s bytes.
    fn __reduce_ex__<'py>(
        slf: &Bound<'py, Self>,
        protocol: i64,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        if protocol < 5 {
            return PyTensor::__reduce__(slf);
        }
        let py = slf.py();
        let inner = &slf.get().inner;
        let bytes = match inner.contiguous_bytes() {
            Some(bytes) => bytes,
            None => {
                let copy = copy_to(py, inner, inner.dtype())?;
                let copy = if inner.is_readonly() {
                    copy.to_readonly()
                } else {
                    copy
                };
                copy.contiguous_bytes()
                    .expect("a fresh copy is C-contiguous")
            }
        };
        let dlbridge = py.import("dlbridge")?;
        let buffer = py
            .import("pickle")?
            .getattr("PickleBuffer")?
            .call1((PyTensor::wrap(py, bytes)?,))?;
        let args = (
            buffer,
            inner.dtype().name(),
            PyTuple::new(py, inner.shape())?,
            inner.is_readonly(),
        );
        Ok((
            dlbridge.getattr("_rebuild_tensor_from_buffer")?,
            args.into_pyobject(py)?,
        ))
    }

    /// Pickles as the tensor's bytes (row-major), dtype, shape and read-only
    /// flag; unpickling gives an equal, independent tensor.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let py = slf.py();
        let inner = &slf.get().inner;
        let data = if inner.is_contiguous() {
            // One copy, straight from the tensor into the bytes object.
            let _reading = inner.hold(Participation::CheckOnly, false)?;
            // SAFETY: a C-contiguous tensor's elements are the `nbytes` bytes
            // from `data_ptr`, valid while `inner` lives; no Rust borrow
            // writes them (checked just now) and the GIL, held here, keeps
            // other Python threads out while they are copied.
            let bytes = unsafe { std::slice::from_raw_parts(inner.data_ptr(), inner.nbytes()) };
            pyo3::types::PyBytes::new(py, bytes)
        } else {
            let copy = copy_to(py, inner, inner.dtype())?;
            // SAFETY: `copy` is fresh and contiguous, `nbytes` long, and no
            // one else can reach it.
            let bytes = unsafe { std::slice::from_raw_parts(copy.data_ptr(), copy.nbytes()) };
            pyo3::types::PyBytes::new(py, bytes)
        };
        let rebuild = py.import("dlbridge")?.getattr("_rebuild_tensor")?;
        let args = (
            data,
            inner.dtype().name(),
            PyTuple::new(py, inner.shape())?,
            inner.is_readonly(),
        );
        Ok((rebuild, args.into_pyobject(py)?))
    }

    /// `copy.copy(t)`: another tensor over the same memory.
    fn __copy__(&self, py: Python<'_>) -> PyResult<Py<PyTensor>> {
        PyTensor::wrap(py, self.inner.clone())
    }

    /// `copy.deepcopy(t)`: a view of a copy of the whole storage, with the
    /// same dtype, shape, strides, storage offset, values and read-only
    /// flag, as torch's `__deepcopy__`. Views of one storage copied in one
    /// `deepcopy` (through its `memo`) share one copy, as in torch.
    fn __deepcopy__(&self, py: Python<'_>, memo: &Bound<'_, PyAny>) -> PyResult<Py<PyTensor>> {
        // The memo maps `id(object)` to its copy; a tuple key cannot collide
        // with those. The storage's address names it while the originals,
        // which `deepcopy` holds, keep it alive.
        let key = (
            pyo3::intern!(py, "dlbridge.Tensor storage"),
            std::sync::Arc::as_ptr(self.inner.storage()) as usize,
        );
        let copied = match memo.get_item(key) {
            Ok(copy) => copy.cast_into::<PyTensor>()?.get().inner.clone(),
            Err(_) => {
                let copy = gil::storage_copy(py, &self.inner)?;
                if !memo.is_none() {
                    memo.set_item(key, PyTensor::wrap(py, copy.clone())?)?;
                }
                copy
            }
        };
        PyTensor::wrap(py, self.inner.rebased_onto(&copied)?)
    }

    /// `(device_type, device_id)`: `(1, 0)`, the CPU.
    fn __dlpack_device__(&self) -> (u32, i32) {
        let device = self.inner.device().to_dlpack();
        (device.device_type.0, device.device_id)
    }
}

impl PyTensor {
    /// The only element, for the number protocols; `ValueError` otherwise,
    /// as in torch.
    fn number(&self) -> PyResult<crate::Scalar> {
        if self.inner.numel() != 1 {
            return Err(PyValueError::new_err(format!(
                "only one element tensors can be converted to Python scalars (got {} elements)",
                self.inner.numel()
            )));
        }
        Ok(self.inner.item()?)
    }

    fn compare(
        &self,
        py: Python<'_>,
        other: &Bound<'_, PyAny>,
        equal: bool,
    ) -> PyResult<Py<PyAny>> {
        match compare::compare(&self.inner, other, equal)? {
            Some(result) => Ok(PyTensor::wrap(py, result)?.into_any()),
            None => Ok(py.NotImplemented()),
        }
    }
}

/// Iterates over the first dimension of a tensor, one view at a time.
#[pyclass(module = "dlbridge", name = "_TensorIterator")]
pub struct TensorIterator {
    tensor: Tensor,
    next: std::sync::atomic::AtomicUsize,
    len: usize,
}

#[pymethods]
impl TensorIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyTensor>>> {
        use std::sync::atomic::Ordering;
        let row = self.next.fetch_add(1, Ordering::Relaxed);
        if row >= self.len {
            self.next.store(self.len, Ordering::Relaxed);
            return Ok(None);
        }
        Ok(Some(PyTensor::wrap(
            py,
            self.tensor.index(&[IndexItem::Int(row as isize)])?,
        )?))
    }

    fn __length_hint__(&self) -> usize {
        self.len
            .saturating_sub(self.next.load(std::sync::atomic::Ordering::Relaxed))
    }
}

impl PyTensor {
    /// `dim` wrapped into `0..ndim` (torch's `IndexError` otherwise).
    fn axis(&self, dim: isize) -> PyResult<usize> {
        let axis = crate::reshape::wrap_dim(dim, self.inner.ndim())?;
        if self.inner.ndim() == 0 {
            // torch's `size(0)` of a 0-d tensor is an IndexError too.
            return Err(crate::Error::DimOutOfRange { dim, ndim: 0 }.into());
        }
        Ok(axis)
    }

    /// `reshape(shape)`: a view, or a copy made without the GIL when large.
    fn reshaped(&self, py: Python<'_>, shape: &[isize]) -> PyResult<Tensor> {
        match self.inner.view_shape(shape) {
            Err(crate::Error::NotViewable { .. }) => {
                Ok(copy_to(py, &self.inner, self.inner.dtype())?.view_shape(shape)?)
            }
            result => Ok(result?),
        }
    }
}

/// Tensors as a tuple of `dlbridge.Tensor`s (torch's `split` and friends
/// return tuples).
fn wrap_all(py: Python<'_>, tensors: Vec<Tensor>) -> PyResult<Bound<'_, PyTuple>> {
    let wrapped = tensors
        .into_iter()
        .map(|tensor| PyTensor::wrap(py, tensor))
        .collect::<PyResult<Vec<_>>>()?;
    PyTuple::new(py, wrapped)
}
