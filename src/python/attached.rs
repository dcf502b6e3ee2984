//! Typed access bound to the interpreter: `as_slice_py`, `as_slice_mut_py`,
//! `view_py` and `view_mut_py`, for memory that Python can reach.
//!
//! A guard of `crate::access` is `Send`: any thread may use it, which is
//! sound only for memory no one but Rust can write. Memory Python can reach
//! (imported from NumPy or torch, handed to Python, exported over DLPack) is
//! written by Python threads whenever they hold the GIL, and no registered
//! borrow keeps them out. The accessors here take the `Python<'py>` token and
//! return the same guards wrapped in [`Attached`], which holds
//! `PhantomData<Python<'py>>` and so is neither `Send` nor `Sync`, as
//! rust-numpy's `PyReadonlyArray` is: the guard cannot enter `py.detach` or a
//! spawned or scoped thread, so while it is used the GIL is held on this
//! thread and no other Python thread runs.
//!
//! ```compile_fail,E0277
//! use dlbridge::Tensor;
//! use pyo3::prelude::*;
//!
//! fn sum_without_the_gil(py: Python<'_>, t: &Tensor) -> f32 {
//!     let values = t.as_slice_py::<f32>(py).unwrap();
//!     // error[E0277]: `Attached<'_, SliceRef<'_, f32>>` cannot be shared between threads safely
//!     py.detach(|| values.iter().sum())
//! }
//! ```
//!
//! ```compile_fail,E0277
//! use dlbridge::Tensor;
//! use pyo3::prelude::*;
//!
//! fn write_from_another_thread(py: Python<'_>, t: &Tensor) {
//!     let mut values = t.as_slice_mut_py::<f32>(py).unwrap();
//!     // error[E0277]: the guard cannot be sent to (or shared with) another thread
//!     std::thread::scope(|s| {
//!         s.spawn(|| values[0] = 1.0);
//!     });
//! }
//! ```
//!
//! ```compile_fail,E0277
//! use dlbridge::Tensor;
//! use pyo3::prelude::*;
//!
//! fn read_from_another_thread(py: Python<'_>, t: &Tensor) -> f32 {
//!     let view = t.view_py::<f32>(py).unwrap();
//!     std::thread::scope(|s| s.spawn(|| view.sum()).join().unwrap())
//! }
//! ```
//!
//! What the token cannot rule out (rust-numpy's guards have the same limits):
//! Python code the guard's holder itself runs (calling back into Python,
//! or keeping the guard alive across `py.detach` without using it inside)
//! lets other Python code run while the reference lives; if that code writes
//! the memory, it is a data race with the reference, which is undefined
//! behaviour. `docs/rust.md` states the whole model.

use crate::access::{Holder, SliceMut, SliceRef, ViewMut, ViewRef};
use crate::dtype::Element;
use crate::error::Result;
use crate::tensor::Tensor;
use pyo3::prelude::*;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

/// A typed guard ([`SliceRef`], [`SliceMut`], [`ViewRef`], [`ViewMut`])
/// bound to the thread attached to the interpreter: neither `Send` nor
/// `Sync`, so it is used only while this thread holds the GIL.
///
/// It dereferences to what the guard does (`[T]`, or an `ndarray` view).
#[derive(Debug)]
pub struct Attached<'py, G> {
    guard: G,
    // `Python<'py>` is neither `Send` nor `Sync`; holding it in a
    // `PhantomData` makes the guard neither.
    _attached: PhantomData<Python<'py>>,
}

impl<G: Deref> Deref for Attached<'_, G> {
    type Target = G::Target;
    fn deref(&self) -> &G::Target {
        &self.guard
    }
}

impl<G: DerefMut> DerefMut for Attached<'_, G> {
    fn deref_mut(&mut self) -> &mut G::Target {
        &mut self.guard
    }
}

/// `guard`, bound to the thread that `_py` proves attached.
fn attach<'py, G>(_py: Python<'py>, guard: Result<G>) -> Result<Attached<'py, G>> {
    Ok(Attached {
        guard: guard?,
        _attached: PhantomData,
    })
}

impl Tensor {
    /// The elements of a contiguous tensor as a shared slice, for memory
    /// Python may reach: [`Tensor::as_slice`] bound to the interpreter.
    ///
    /// Fails as [`Tensor::as_slice`] does, except that memory Python or a
    /// DLPack consumer can reach is granted, under a guard that stays on
    /// this thread. Memory in a shared-memory segment is still refused
    /// ([`crate::Error::SharedAcrossProcesses`]). The error is dlbridge's
    /// [`crate::Error`], which `?` turns into the Python exception of
    /// `docs/errors.md` in a `#[pyfunction]`.
    ///
    /// Borrows are registered in the process-wide registry, as every typed
    /// argument's are; a borrow taken before this copy of dlbridge joined it
    /// (a tensor made in Rust, before any came from Python) is carried over
    /// when it joins.
    ///
    /// ```
    /// use dlbridge::Tensor;
    /// use pyo3::prelude::*;
    ///
    /// /// The sum of a contiguous float32 tensor, from any framework.
    /// #[pyfunction]
    /// fn total(py: Python<'_>, t: Tensor) -> PyResult<f32> {
    ///     Ok(t.as_slice_py::<f32>(py)?.iter().sum())
    /// }
    /// ```
    pub fn as_slice_py<'py, T: Element>(
        &'py self,
        py: Python<'py>,
    ) -> Result<Attached<'py, SliceRef<'py, T>>> {
        attach(py, self.slice_guard(Holder::Attached))
    }

    /// The elements of a contiguous, writable tensor as a mutable slice, for
    /// memory Python may reach: [`Tensor::as_slice_mut`] bound to the
    /// interpreter.
    pub fn as_slice_mut_py<'py, T: Element>(
        &'py self,
        py: Python<'py>,
    ) -> Result<Attached<'py, SliceMut<'py, T>>> {
        attach(py, self.slice_mut_guard(Holder::Attached))
    }

    /// The elements, in any layout, as an `ndarray` view, for memory Python
    /// may reach: [`Tensor::view`] bound to the interpreter.
    pub fn view_py<'py, T: Element>(
        &'py self,
        py: Python<'py>,
    ) -> Result<Attached<'py, ViewRef<'py, T>>> {
        attach(py, self.view_guard(Holder::Attached))
    }

    /// The elements of a writable tensor as a mutable `ndarray` view, for
    /// memory Python may reach: [`Tensor::view_mut`] bound to the
    /// interpreter.
    pub fn view_mut_py<'py, T: Element>(
        &'py self,
        py: Python<'py>,
    ) -> Result<Attached<'py, ViewMut<'py, T>>> {
        attach(py, self.view_mut_guard(Holder::Attached))
    }
}
