//! Zero-copy tensors between NumPy, PyTorch and Rust, built on DLPack.
//!
//! The core (this crate without features) knows nothing of Python: a
//! [`Tensor`] is shared memory seen through a shape and strides, with a
//! [`DType`] and a [`Device`], and crosses to and from other frameworks as a
//! DLPack managed tensor ([`dlpack`]). The `python` feature adds the PyO3
//! extension module (`dlbridge::python`, in `src/python/`).
//!
//! ```
//! use dlbridge::{DType, Tensor};
//!
//! let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
//! let column = t.index(&[dlbridge::IndexItem::Ellipsis, dlbridge::IndexItem::Int(1)])?;
//! assert_eq!(column.shape(), &[2]);
//! assert_eq!(column.strides(), &[2]);
//! // A view shares memory: its first element is the second of `t`.
//! assert_eq!(column.data_ptr(), t.data_ptr().wrapping_add(4));
//! assert_eq!(column.to_dtype(DType::Int64)?.to_string(), "tensor([2, 4])");
//! # Ok::<(), dlbridge::Error>(())
//! ```
//!
//! Where to look:
//!
//! - [`Tensor`]: constructors (`zeros`, `from_vec`, `from_scalars`; any Rust
//!   owner without a copy: `from_owner`, `from_owner_mut`, `from_bytes_owner`,
//!   `from_array`, and `try_into_array` back to an owned array, refused with
//!   an [`IntoArrayError`] that gives the tensor back), views
//!   that never copy (`index`, `permute`, `broadcast_to`, `reinterpret`),
//!   copies (`deep_copy`, `to_dtype`, `contiguous`), writes (`assign`, `fill`)
//!   and element access. Its Rust `Clone` is another handle to the same
//!   memory; Python's `clone()` is [`Tensor::deep_copy`].
//! - The typed accessors `as_slice`, `as_slice_mut`, `view` and `view_mut`
//!   return the guards [`SliceRef`], [`SliceMut`], [`ViewRef`] and
//!   [`ViewMut`], which hold a borrow checked at run time across every handle
//!   of the memory.
//! - [`DType`], [`Kind`], [`Element`] and [`Scalar`]: element types and
//!   values; [`Device`]: where the memory is.
//! - [`dlpack`]: import and export of DLPack managed tensors.
//! - [`Error`] and [`Result`]: every fallible function's error.
//! - [`ndarray`], [`half`] and [`num_complex`]: the crates of the views and
//!   element types, re-exported so that a dependent names the same versions.

// The modules are private: each public item has one path, the re-export
// below (or the `dlpack` module's functions, or `python`'s items with that
// feature). Helpers the modules share
// (`copy`'s kernels, `layout`'s arithmetic, `borrow`'s registry, `Storage`)
// are `pub(crate)`, so they can change without breaking a user.
mod access;
mod borrow;
mod bounds;
mod compare;
mod copy;
mod device;
pub mod dlpack;
mod dtype;
mod error;
mod foreign;
mod format;
mod layout;
mod owned;
mod range;
mod reshape;
mod round;
mod scalar;
mod shared;
mod sharing;
mod storage;
mod strided;
mod tensor;

#[cfg(feature = "python")]
pub mod python;

pub use access::{SliceMut, SliceRef, ViewMut, ViewRef};
pub use device::Device;
pub use dtype::{DType, Element, Kind};
pub use error::{Error, Result};
pub use layout::{IndexItem, MAX_NDIM};
pub use owned::{IntoArrayError, IntoArrayReason};
pub use scalar::Scalar;
pub use tensor::Tensor;

// The crates whose types appear in dlbridge's API, re-exported so that an
// extension names the very versions dlbridge was built with: a second
// `ndarray` in the dependency tree (0.16 next to dlbridge's 0.17) gives views
// whose `Dimension` traits do not match, in errors that do not say why. PyO3
// is not re-exported: its macros expand to `::pyo3`, so an extension depends
// on it directly, at the version `docs/rust.md` names.

/// The [`half`](https://docs.rs/half) crate dlbridge is built with, for
/// `half::f16` and `half::bf16` elements.
pub use half;
/// The [`ndarray`](https://docs.rs/ndarray) crate dlbridge is built with: the
/// views of [`Tensor::view`] and of the typed Python arguments, and the
/// dimensionalities (`Ix1`, `Ix2`, `IxDyn`) those arguments name.
pub use ndarray;
/// The [`num_complex`](https://docs.rs/num-complex) crate dlbridge is built
/// with, for `Complex<f32>` and `Complex<f64>` elements.
pub use num_complex;

/// The Rust examples of the README and of the Rust guide, run as doctests so
/// that the documentation cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
#[doc = include_str!("../docs/rust.md")]
struct DocumentationExamples;
