//! Typed, borrow-checked access from Rust: dtype and layout checks, views of
//! any strides, conflicting borrows refused across aliasing tensors, and
//! `from_vec` buffers shared with DLPack consumers.

use dlbridge::{DType, Error, IndexItem, Scalar, Tensor, dlpack};
use dlpark::ffi::{DLDataType, DLDevice, DLManagedTensor, DLManagedTensorVersioned};
use dlpark::metadata::Dynamic;
use ndarray::{ArrayD, array};
use num_complex::Complex;

fn step(step: isize) -> IndexItem {
    IndexItem::Slice {
        start: None,
        stop: None,
        step: Some(step),
    }
}

fn grid() -> Tensor {
    Tensor::from_vec((0..12).map(|v| v as f32).collect::<Vec<_>>(), &[3, 4]).unwrap()
}

#[test]
fn slices_check_the_element_type_and_layout() {
    let t = grid();
    assert_eq!(
        &*t.as_slice::<f32>().unwrap(),
        &[0., 1., 2., 3., 4., 5., 6., 7., 8., 9., 10., 11.]
    );
    assert_eq!(
        t.as_slice::<f64>().unwrap_err(),
        Error::DTypeMismatch {
            expected: DType::Float64,
            actual: DType::Float32
        }
    );
    let column = t.index(&[IndexItem::Ellipsis, IndexItem::Int(1)]).unwrap();
    assert!(matches!(
        column.as_slice::<f32>(),
        Err(Error::NotContiguous { .. })
    ));
    let row = t.index(&[IndexItem::Int(1)]).unwrap();
    assert_eq!(&*row.as_slice::<f32>().unwrap(), &[4., 5., 6., 7.]);
}

#[test]
fn mutable_access_refuses_read_only_tensors() {
    let t = grid().to_readonly();
    assert_eq!(t.as_slice_mut::<f32>().unwrap_err(), Error::ReadOnly);
    assert_eq!(t.view_mut::<f32>().unwrap_err(), Error::ReadOnly);
    assert!(t.as_slice::<f32>().is_ok());
}

#[test]
fn views_follow_strided_transposed_and_reversed_layouts() {
    let t = grid();
    let transposed = t.permute(&[1, 0]).unwrap();
    let view = transposed.view::<f32>().unwrap();
    assert_eq!(view.shape(), &[4, 3]);
    assert_eq!(view[[1, 2]], 9.0);
    drop(view);

    let reversed = t.index(&[step(-1), step(-2)]).unwrap();
    assert_eq!(reversed.strides(), &[-4, -2]);
    let view = reversed.view::<f32>().unwrap();
    let expected: ArrayD<f32> = array![[11., 9.], [7., 5.], [3., 1.]].into_dyn();
    assert_eq!(*view, expected.view());
    drop(view);

    let broadcast = t
        .index(&[IndexItem::Int(0)])
        .unwrap()
        .broadcast_to(&[2, 4])
        .unwrap();
    assert_eq!(broadcast.view::<f32>().unwrap().sum(), 12.0);
    assert!(matches!(
        broadcast.view_mut::<f32>(),
        Err(Error::OverlappingElements { .. })
    ));
}

#[test]
fn mutable_views_write_through_to_every_alias() {
    let t = grid();
    let odd_columns = t.index(&[
        IndexItem::Ellipsis,
        IndexItem::Slice {
            start: Some(1),
            stop: None,
            step: Some(2),
        },
    ]);
    let reversed = odd_columns.unwrap().index(&[step(-1)]).unwrap();
    {
        let mut view = reversed.view_mut::<f32>().unwrap();
        view.mapv_inplace(|v| -v);
        view[[0, 0]] = 100.0; // t[2, 1]
    }
    assert_eq!(
        &*t.as_slice::<f32>().unwrap(),
        &[0., -1., 2., -3., 4., -5., 6., -7., 8., 100., 10., -11.]
    );
}

#[test]
fn conflicting_borrows_are_refused_across_aliasing_tensors() {
    let t = grid();
    let row = t.index(&[IndexItem::Int(0)]).unwrap();
    let other_row = t.index(&[IndexItem::Int(2)]).unwrap();
    let mut writing = row.as_slice_mut::<f32>().unwrap();
    writing[0] = 7.0;
    assert_eq!(
        t.as_slice::<f32>().unwrap_err(),
        Error::AlreadyBorrowed { exclusive: false }
    );
    assert!(t.view::<f32>().is_err());
    assert!(t.to_scalars().is_err(), "kernels honour borrows too");
    assert!(t.fill(Scalar::Float(0.0)).is_err());
    assert!(format!("{t}").contains("mutably borrowed"));
    // Disjoint memory of the same storage is independent.
    assert!(other_row.as_slice_mut::<f32>().is_ok());

    // Handing the memory out while a guard lives is refused: the guard's
    // thread could meet a foreign writer.
    assert!(matches!(
        dlpack::export::<DLManagedTensorVersioned>(&t),
        Err(Error::AlreadyBorrowed { exclusive: true })
    ));
    drop(writing);
    // The attempt made the memory reachable for good: no guard without the
    // interpreter on any handle of this storage from now on.
    assert_eq!(t.as_slice::<f32>().unwrap_err(), Error::ReachableFromPython);
    assert_eq!(
        row.as_slice_mut::<f32>().unwrap_err(),
        Error::ReachableFromPython
    );

    // Two imports of one exported buffer, as a C producer's memory, are
    // Rust's to reference (the producer's writes are its contract), and are
    // caught against each other: borrows are tracked by address.
    let alias = dlpack::import(dlpack::export::<DLManagedTensorVersioned>(&t).unwrap()).unwrap();
    let other = dlpack::import(dlpack::export::<DLManagedTensorVersioned>(&t).unwrap()).unwrap();
    let reading = alias.as_slice::<f32>().unwrap();
    let also_reading = other.view::<f32>().unwrap();
    assert_eq!(reading[0], 7.0);
    assert_eq!(also_reading[[0, 0]], 7.0);
    assert_eq!(
        other.as_slice_mut::<f32>().unwrap_err(),
        Error::AlreadyBorrowed { exclusive: true }
    );
}

#[test]
fn every_element_type_is_checked_against_its_dtype() {
    fn check<T: dlbridge::Element + PartialEq + std::fmt::Debug>(values: Vec<T>) {
        let expected = values.clone();
        let t = Tensor::from_vec(values, &[expected.len()]).unwrap();
        assert_eq!(t.dtype(), T::DTYPE);
        assert_eq!(&*t.as_slice::<T>().unwrap(), &expected[..]);
    }
    check(vec![true, false]);
    check(vec![-1i8, 2]);
    check(vec![-1i16, 2]);
    check(vec![-1i32, 2]);
    check(vec![-1i64, 2]);
    check(vec![1u8, 2]);
    check(vec![1u16, 2]);
    check(vec![1u32, 2]);
    check(vec![1u64, u64::MAX]);
    check(vec![half::f16::from_f32(1.5)]);
    check(vec![half::bf16::from_f32(1.5)]);
    check(vec![1.5f32]);
    check(vec![1.5f64]);
    check(vec![Complex::new(1.0f32, -2.0)]);
    check(vec![Complex::new(1.0f64, -2.0)]);
    let zeros = Tensor::zeros(DType::Complex128, &[2]).unwrap();
    assert_eq!(
        zeros.as_slice::<Complex<f64>>().unwrap()[1],
        Complex::new(0.0, 0.0)
    );
}

#[test]
fn bool_tensors_with_invalid_bytes_are_refused() {
    // A NumPy bool array can hold any byte (e.g. `u8_array.view(bool)`).
    let bytes = vec![0u8, 2, 1];
    let data = bytes.as_ptr().cast_mut().cast();
    let mut initialized = Dynamic::new(vec![3i64], vec![1i64])
        .initialize_as::<DLManagedTensor>(Box::new(bytes))
        .unwrap();
    initialized
        .set_data(data)
        .set_dtype(DLDataType::BOOL)
        .set_device(DLDevice::CPU);
    // SAFETY: the context owns the three bytes the descriptor points to.
    let managed = unsafe { initialized.finish() };
    let t = dlpack::import(managed).unwrap();
    assert_eq!(
        t.as_slice::<bool>().unwrap_err(),
        Error::InvalidBool { byte: 2 }
    );
    assert!(t.view::<bool>().is_err());
}

#[test]
fn empty_and_zero_dim_tensors_give_empty_and_scalar_views() {
    let empty = Tensor::zeros(DType::Float64, &[0, 3]).unwrap();
    assert!(empty.as_slice::<f64>().unwrap().is_empty());
    assert_eq!(empty.view_mut::<f64>().unwrap().shape(), &[0, 3]);
    let scalar = Tensor::from_vec(vec![2.5f32], &[]).unwrap();
    assert_eq!(scalar.view::<f32>().unwrap().ndim(), 0);
    assert_eq!(scalar.view::<f32>().unwrap()[[]], 2.5);
}

#[test]
fn read_only_tensors_are_refused_by_the_legacy_abi_and_huge_broadcasts_by_shape() {
    let t = grid().to_readonly();
    assert!(matches!(
        dlpack::export::<DLManagedTensor>(&t),
        Err(Error::ReadOnlyLegacyExport)
    ));
    let versioned = dlpack::export::<DLManagedTensorVersioned>(&t).unwrap();
    assert!(dlpack::import(versioned).unwrap().is_readonly());
    let one = Tensor::zeros(DType::Float32, &[1]).unwrap();
    assert!(matches!(
        one.broadcast_to(&[1 << 32, 1 << 32]),
        Err(Error::TooLarge { .. })
    ));
}

/// The re-exported crates are the very ones dlbridge's API is written in: a
/// view taken from a tensor is `dlbridge::ndarray`'s type, and the element
/// types of `dlbridge::half` and `dlbridge::num_complex` are elements. (This
/// fails to compile if a re-export goes, or names another version.)
#[test]
fn reexported_crates_are_the_ones_the_api_uses() {
    let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
    let view = t.view::<f32>().unwrap();
    let matrix: dlbridge::ndarray::ArrayView2<'_, f32> = view
        .view()
        .into_dimensionality::<dlbridge::ndarray::Ix2>()
        .unwrap();
    assert_eq!(matrix[[1, 0]], 3.0);
    let h = Tensor::from_vec(vec![dlbridge::half::f16::from_f32(1.5)], &[1]).unwrap();
    assert_eq!(h.dtype(), DType::Float16);
    let b = Tensor::from_vec(vec![dlbridge::half::bf16::from_f32(2.0)], &[1]).unwrap();
    assert_eq!(b.dtype(), DType::BFloat16);
    let z = Tensor::from_vec(
        vec![dlbridge::num_complex::Complex::new(1.0f64, -2.0)],
        &[1],
    )
    .unwrap();
    assert_eq!(z.dtype(), DType::Complex128);
    assert_eq!(
        z.as_slice::<dlbridge::num_complex::Complex<f64>>().unwrap()[0].im,
        -2.0
    );
}
