//! The `AttributeError` for torch's tensor methods that dlbridge leaves to
//! torch (arithmetic, reductions, autograd, ...): it says where they are.
//!
//! Each of those names gets a descriptor on `dlbridge.Tensor` whose
//! `__get__` raises the error, rather than the class getting a
//! `__getattr__`: any `tp_getattro` other than `PyObject_GenericGetAttr`
//! turns off CPython's method-call fast path (`LOAD_METHOD` binds no method
//! object only for the generic one, and the specializing interpreter skips
//! the type), which cost every method call on a tensor a bound method and a
//! trip through PyO3's trampoline: a quarter of the time of `t.narrow(...)`.

use super::tensor::PyTensor;
use pyo3::exceptions::PyAttributeError;
use pyo3::prelude::*;

/// The public attributes of `torch.Tensor` that `dlbridge.Tensor` does not
/// have, one per line. `python_tests/test_layout_ops.py` checks the list
/// against the installed torch and says how to write it again.
const NAMES: &str = include_str!("torch_only.txt");

/// The names of [`NAMES`], without blank lines.
fn names() -> impl Iterator<Item = &'static str> {
    NAMES.lines().map(str::trim).filter(|name| !name.is_empty())
}

/// A name torch's tensors have and dlbridge's do not: reading it, from a
/// tensor or from the class, raises `AttributeError` with the way to torch.
#[pyclass(frozen, module = "dlbridge")]
struct TorchOnly {
    name: &'static str,
}

#[pymethods]
impl TorchOnly {
    fn __get__(
        &self,
        _instance: Option<&Bound<'_, PyAny>>,
        _owner: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        Err(PyAttributeError::new_err(format!(
            "'dlbridge.Tensor' object has no attribute '{}'. dlbridge moves tensors and \
             changes their layout without copying; for arithmetic, reductions and autograd, \
             use torch.from_dlpack(t) or t.numpy(), which share its memory",
            self.name
        )))
    }
}

/// Puts a [`TorchOnly`] on `dlbridge.Tensor` for each of [`NAMES`] the class
/// does not define itself.
pub(super) fn install(py: Python<'_>) -> PyResult<()> {
    let class = py.get_type::<PyTensor>();
    let defined = class.getattr("__dict__")?;
    for name in names() {
        if !defined.contains(name)? {
            class.setattr(name, TorchOnly { name })?;
        }
    }
    Ok(())
}

/// `dir(t)`: the attributes `object.__dir__` finds, without the
/// [`TorchOnly`] names, which are on the class only to raise.
pub(super) fn dir<'py>(tensor: &Bound<'py, PyTensor>) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let py = tensor.py();
    let namespace = py.get_type::<PyTensor>().getattr("__dict__")?;
    let all = py
        .get_type::<PyAny>()
        .getattr("__dir__")?
        .call1((tensor,))?;
    let mut kept = Vec::new();
    for name in all.try_iter()? {
        let name = name?;
        let torch_only = namespace
            .get_item(&name)
            .is_ok_and(|value| value.is_instance_of::<TorchOnly>());
        if !torch_only {
            kept.push(name);
        }
    }
    Ok(kept)
}
