//! Rust owners as tensors without copying (`from_owner`, `from_owner_mut`,
//! `from_bytes_owner`, `from_array`) and back (`try_into_array`): pointers,
//! a drop counter, every refusal, and `from_array`'s strides for every kind
//! of owned ndarray, on extreme strides and shapes too.

use dlbridge::ndarray::{
    Array, Array1, Array2, Array3, ArrayD, Ix1, Ix2, Ix3, IxDyn, ShapeBuilder, s,
};
use dlbridge::{DType, Error, IndexItem, IntoArrayReason, Scalar, Tensor, dlpack};
use dlpark::ffi::DLManagedTensorVersioned;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// An owner of float32 elements that counts its drops.
struct Counted {
    values: Vec<f32>,
    drops: Arc<AtomicUsize>,
}

impl Counted {
    fn new(n: usize) -> (Counted, Arc<AtomicUsize>) {
        let drops = Arc::new(AtomicUsize::new(0));
        let owner = Counted {
            values: (0..n).map(|i| i as f32).collect(),
            drops: Arc::clone(&drops),
        };
        (owner, drops)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

impl AsRef<[f32]> for Counted {
    fn as_ref(&self) -> &[f32] {
        &self.values
    }
}

impl AsMut<[f32]> for Counted {
    fn as_mut(&mut self) -> &mut [f32] {
        &mut self.values
    }
}

fn drops(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

#[test]
fn from_owner_shares_an_arc_that_rust_keeps_using() {
    let table: Arc<[f32]> = (0..6).map(|i| i as f32).collect();
    let t = Tensor::from_owner(Arc::clone(&table), &[2, 3]).unwrap();
    assert_eq!(t.data_ptr(), table.as_ptr().cast());
    assert_eq!((t.shape(), t.strides()), (&[2, 3][..], &[3, 1][..]));
    assert_eq!(t.dtype(), DType::Float32);
    assert!(t.is_readonly());
    assert_eq!(Arc::strong_count(&table), 2);
    // Rust reads the table while the tensor reads it too.
    assert_eq!(&*t.as_slice::<f32>().unwrap(), &*table);
    // Read-only: no writes through the tensor, nor a mutable guard.
    assert_eq!(t.fill(Scalar::Float(1.0)).unwrap_err(), Error::ReadOnly);
    assert_eq!(t.as_slice_mut::<f32>().unwrap_err(), Error::ReadOnly);
    let row = t.index(&[IndexItem::Int(1)]).unwrap();
    drop(t);
    assert_eq!(Arc::strong_count(&table), 2); // the view keeps the owner
    assert_eq!(row.data_ptr(), table[3..].as_ptr().cast());
    drop(row);
    assert_eq!(Arc::strong_count(&table), 1);
}

#[test]
fn inline_owners_are_located_after_they_are_boxed() {
    // An array holds its elements inline: `as_ref` is called on the owner in
    // its final place, so the tensor does not point into a moved-from value.
    let t = Tensor::from_owner([1.0f64, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
    assert_eq!(&*t.as_slice::<f64>().unwrap(), &[1.0, 2.0, 3.0, 4.0]);
    let copy = t.deep_copy().unwrap();
    drop(t);
    assert_eq!(&*copy.as_slice::<f64>().unwrap(), &[1.0, 2.0, 3.0, 4.0]);
    let mut inline = Tensor::from_owner_mut([0u16; 3], &[3]).unwrap();
    inline.fill(Scalar::Int(9)).unwrap();
    inline = inline.index(&[IndexItem::Int(2)]).unwrap();
    assert_eq!(inline.item().unwrap(), Scalar::Int(9));
}

#[test]
fn from_owner_mut_writes_into_the_owner_and_drops_it_once_last() {
    let (owner, counter) = Counted::new(4);
    let address = owner.values.as_ptr();
    let t = Tensor::from_owner_mut(owner, &[2, 2]).unwrap();
    assert_eq!(t.data_ptr(), address.cast());
    assert!(!t.is_readonly());
    t.as_slice_mut::<f32>().unwrap()[3] = 42.0;
    let view = t.transpose_all();
    let copy = t.deep_copy().unwrap();
    drop(t);
    assert_eq!(drops(&counter), 0);
    assert_eq!(view.to_scalars().unwrap()[3], Scalar::Float(42.0));
    // The last user may be on another thread.
    std::thread::spawn(move || drop(view)).join().unwrap();
    assert_eq!(drops(&counter), 1);
    drop(copy); // fresh memory: nothing to do with the owner
    assert_eq!(drops(&counter), 1);
}

#[test]
fn an_exported_capsule_keeps_the_owner_after_rust_lets_go() {
    let (owner, counter) = Counted::new(3);
    let address = owner.values.as_ptr() as usize;
    let t = Tensor::from_owner_mut(owner, &[3]).unwrap();
    let managed = dlpack::export::<DLManagedTensorVersioned>(&t).unwrap();
    drop(t);
    assert_eq!(drops(&counter), 0);
    let imported = dlpack::import(managed).unwrap();
    assert_eq!(imported.data_ptr() as usize, address);
    imported.fill(Scalar::Float(5.0)).unwrap();
    assert_eq!(drops(&counter), 0);
    drop(imported);
    assert_eq!(drops(&counter), 1);
}

#[test]
fn owner_memory_is_rust_only_until_it_is_exported() {
    // Guards need no interpreter while only Rust reaches the owner's memory;
    // an export refuses to hand it out under a live guard, and from then on
    // the memory is reachable and guards are refused, on every handle.
    for t in [
        Tensor::from_owner_mut(vec![0.0f32; 4].into_boxed_slice(), &[4]).unwrap(),
        Tensor::from_array(Array1::<f32>::zeros(4)).unwrap(),
        Tensor::from_owner(Arc::<[f32]>::from(vec![0.0; 4]), &[4]).unwrap(),
    ] {
        let handle = t.clone();
        let reading = t.as_slice::<f32>().unwrap();
        assert!(matches!(
            dlpack::export::<DLManagedTensorVersioned>(&handle),
            Err(Error::AlreadyBorrowed { exclusive: true })
        ));
        drop(reading);
        assert_eq!(t.as_slice::<f32>().unwrap_err(), Error::ReachableFromPython);
        assert_eq!(
            handle.view::<f32>().unwrap_err(),
            Error::ReachableFromPython
        );
    }
}

#[test]
fn refused_owners_are_dropped_once() {
    let (owner, counter) = Counted::new(5);
    assert_eq!(
        Tensor::from_owner(owner, &[2, 3]).unwrap_err(),
        Error::LengthMismatch {
            len: 5,
            shape: vec![2, 3],
            numel: 6
        }
    );
    assert_eq!(drops(&counter), 1);
    let (owner, counter) = Counted::new(5);
    assert!(matches!(
        Tensor::from_owner_mut(owner, &[4]),
        Err(Error::LengthMismatch {
            len: 5,
            numel: 4,
            ..
        })
    ));
    assert_eq!(drops(&counter), 1);
    let (owner, counter) = Counted::new(1);
    assert_eq!(
        Tensor::from_owner(owner, &[1; 65]).unwrap_err(),
        Error::RankTooLarge { ndim: 65 }
    );
    assert_eq!(drops(&counter), 1);
    // Shapes whose element count overflows, next to an empty owner.
    let (owner, counter) = Counted::new(0);
    assert!(matches!(
        Tensor::from_owner_mut(owner, &[usize::MAX, 2]),
        Err(Error::TooLarge { .. })
    ));
    assert_eq!(drops(&counter), 1);
    // Empty next to huge: zero elements, whatever the other sizes.
    let (owner, counter) = Counted::new(0);
    let empty = Tensor::from_owner(owner, &[0, isize::MAX as usize]).unwrap();
    assert_eq!(empty.numel(), 0);
    drop(empty);
    assert_eq!(drops(&counter), 1);
}

/// An owner whose `as_ref` panics: the owner is still dropped, once.
struct Panicking(Arc<AtomicUsize>);

impl AsRef<[u8]> for Panicking {
    fn as_ref(&self) -> &[u8] {
        panic!("as_ref failed")
    }
}

impl Drop for Panicking {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn an_owner_that_panics_while_located_is_dropped() {
    let counter = Arc::new(AtomicUsize::new(0));
    let owner = Panicking(Arc::clone(&counter));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Tensor::from_bytes_owner(owner, DType::UInt8, &[1], 0)
    }));
    assert!(result.is_err());
    assert_eq!(drops(&counter), 1);
}

#[test]
fn from_bytes_owner_places_a_dtype_at_a_byte_offset() {
    let bytes: Vec<u8> = (0..32).collect();
    let address = bytes.as_ptr() as usize;
    let t = Tensor::from_bytes_owner(bytes, DType::UInt16, &[2, 3], 4).unwrap();
    assert_eq!(t.data_ptr() as usize, address + 4);
    assert!(t.is_readonly());
    assert_eq!(t.nbytes(), 12);
    let expected: Vec<Scalar> = (0..6)
        .map(|i| Scalar::Int(u16::from_ne_bytes([4 + 2 * i, 5 + 2 * i]).into()))
        .collect();
    // Read whatever the alignment (a `Vec<u8>` need not be 2-byte aligned).
    assert_eq!(t.to_scalars().unwrap(), expected);
    // The whole owner, exactly.
    let exact = Tensor::from_bytes_owner(vec![0u8; 16], DType::Complex64, &[2], 0).unwrap();
    assert_eq!(exact.numel(), 2);
    // An empty tensor at the very end.
    let end = Tensor::from_bytes_owner(vec![0u8; 16], DType::Float64, &[0], 16).unwrap();
    assert_eq!(end.numel(), 0);
}

#[test]
fn from_bytes_owner_allows_misaligned_placements_as_imports_do() {
    let bytes = vec![0u8; 9];
    let t = Tensor::from_bytes_owner(bytes, DType::Float32, &[2], 1).unwrap();
    if !(t.data_ptr() as usize).is_multiple_of(4) {
        assert!(matches!(
            t.as_slice::<f32>(),
            Err(Error::Misaligned { align: 4, .. })
        ));
    }
    // Copied out like any other memory, into aligned memory.
    let copy = t.deep_copy().unwrap();
    assert_eq!(&*copy.as_slice::<f32>().unwrap(), &[0.0, 0.0]);
}

#[test]
fn from_bytes_owner_refuses_what_the_owner_does_not_hold() {
    // Offset past the end.
    assert_eq!(
        Tensor::from_bytes_owner(vec![0u8; 8], DType::UInt8, &[0], 9).unwrap_err(),
        Error::OwnerTooShort {
            len: 8,
            offset: 9,
            needed: 0
        }
    );
    assert_eq!(
        Tensor::from_bytes_owner(vec![0u8; 8], DType::UInt8, &[1], usize::MAX).unwrap_err(),
        Error::OwnerTooShort {
            len: 8,
            offset: usize::MAX,
            needed: 1
        }
    );
    // A dtype whose size the bytes do not hold.
    assert_eq!(
        Tensor::from_bytes_owner(vec![0u8; 12], DType::Float64, &[2], 0).unwrap_err(),
        Error::OwnerTooShort {
            len: 12,
            offset: 0,
            needed: 16
        }
    );
    assert_eq!(
        Tensor::from_bytes_owner(vec![0u8; 16], DType::Float32, &[4], 1).unwrap_err(),
        Error::OwnerTooShort {
            len: 16,
            offset: 1,
            needed: 16
        }
    );
    // A shape whose byte size does not fit `usize`, reported exactly.
    let huge = isize::MAX as usize;
    assert_eq!(
        Tensor::from_bytes_owner(vec![0u8; 4], DType::Complex128, &[huge], 0).unwrap_err(),
        Error::OwnerTooShort {
            len: 4,
            offset: 0,
            needed: huge as u128 * 16
        }
    );
    let message = Tensor::from_bytes_owner(vec![0u8; 12], DType::Float64, &[2], 0)
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "the owner holds 12 bytes, too few for 16 bytes from byte offset 0"
    );
}

/// `array`'s shape, strides and first address, to compare with a tensor's.
fn placement<D: dlbridge::ndarray::Dimension>(
    array: &Array<f32, D>,
) -> (Vec<usize>, Vec<isize>, usize) {
    (
        array.shape().to_vec(),
        array.strides().to_vec(),
        array.as_ptr() as usize,
    )
}

fn tensor_placement(t: &Tensor) -> (Vec<usize>, Vec<isize>, usize) {
    (
        t.shape().to_vec(),
        t.strides().to_vec(),
        t.data_ptr() as usize,
    )
}

/// Every kind of owned array: standard, Fortran, negative strides, sliced
/// with steps, permuted, zero-dimensional, empty, with absurd strides on
/// axes of length 1.
fn arrays() -> Vec<ArrayD<f32>> {
    let grid = |shape: &[usize]| {
        let n = shape.iter().product::<usize>();
        Array::from_shape_vec(IxDyn(shape), (0..n).map(|i| i as f32).collect()).unwrap()
    };
    let fortran = {
        let c = Array2::from_shape_vec((3, 4), (0..12).map(|i| i as f32).collect()).unwrap();
        let mut f = Array2::zeros((3, 4).f());
        f.assign(&c);
        f.into_dyn()
    };
    let strides_on_ones = Array::from_shape_vec(
        IxDyn(&[1, 3, 1]).strides(IxDyn(&[isize::MAX as usize, 1, (-isize::MAX) as usize])),
        vec![0.0f32, 1.0, 2.0],
    )
    .unwrap();
    vec![
        grid(&[3, 4]),
        fortran,
        grid(&[3, 4]).slice_move(s![.., ..;-1]).into_dyn(),
        grid(&[3, 4]).slice_move(s![..;-1, ..;-1]).into_dyn(),
        grid(&[10, 10]).slice_move(s![2.., 3..]).into_dyn(),
        grid(&[10, 10]).slice_move(s![1..;2, 1..;3]).into_dyn(),
        grid(&[10, 10]).slice_move(s![1..7;-2, 2..9;-3]).into_dyn(),
        grid(&[20]).slice_move(s![1..;2]).into_dyn(),
        grid(&[4, 5, 6])
            .permuted_axes(IxDyn(&[2, 0, 1]))
            .slice_move(s![1.., ..;-2, 3..])
            .into_dyn(),
        grid(&[4, 5, 6]).slice_move(s![2, 1..4, ..;-5]).into_dyn(),
        grid(&[4, 5]).slice_move(s![3, 4]).into_dyn(),
        grid(&[4, 0, 5]),
        grid(&[4, 5]).slice_move(s![2..2, ..]).into_dyn(),
        strides_on_ones,
        // A reshape of a vector sliced past its start: contiguous, offset 3,
        // which no larger array slices to.
        Array1::from_iter((0..9).map(|i| i as f32))
            .slice_move(s![3..])
            .into_shape_with_order((3, 2))
            .unwrap()
            .into_dyn(),
        Array1::from_iter((0..9).map(|i| i as f32))
            .slice_move(s![3..])
            .into_shape_with_order(((3, 2), dlbridge::ndarray::Order::F))
            .unwrap()
            .slice_move(s![..;-1, ..])
            .into_dyn(),
        // Axes of length 1 next to a sliced one.
        grid(&[4, 5])
            .slice_move(s![3.., 1..])
            .insert_axis(dlbridge::ndarray::Axis(0))
            .into_dyn(),
    ]
}

/// The placement with the strides of axes of length 1 left out: they address
/// nothing, and an array rebuilt by reshaping gets ndarray's own.
fn placement_of_long_axes(
    placement: (Vec<usize>, Vec<isize>, usize),
) -> (Vec<usize>, Vec<isize>, usize) {
    let (shape, strides, address) = placement;
    let strides = shape
        .iter()
        .zip(strides)
        .map(|(&n, s)| if n > 1 { s } else { 0 })
        .collect();
    (shape, strides, address)
}

#[test]
fn from_array_keeps_every_layout_in_place() {
    for array in arrays() {
        let expected = placement(&array);
        let values: Vec<f32> = array.iter().copied().collect();
        let t = Tensor::from_array(array).unwrap();
        assert_eq!(tensor_placement(&t), expected);
        assert!(!t.is_readonly());
        let read: Vec<f32> = t
            .to_scalars()
            .unwrap()
            .into_iter()
            .map(|v| match v {
                Scalar::Float(v) => v as f32,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(read, values);
    }
    assert_eq!(
        Tensor::from_array(ArrayD::<u8>::zeros(IxDyn(&[1; 65]))).unwrap_err(),
        Error::RankTooLarge { ndim: 65 }
    );
}

#[test]
fn arrays_come_back_in_place_from_their_tensors() {
    for array in arrays() {
        let expected = placement(&array);
        let copy = array.clone();
        let t = Tensor::from_array(array).unwrap();
        let back: ArrayD<f32> = t.try_into_array().unwrap();
        if back.is_empty() {
            assert_eq!(back.shape(), &expected.0[..]);
        } else {
            assert_eq!(
                placement_of_long_axes(placement(&back)),
                placement_of_long_axes(expected)
            );
        }
        assert_eq!(back, copy);
    }
    // Typed dimensionalities.
    let a = Array3::<f32>::zeros((2, 3, 4)).slice_move(s![.., 1.., ..;-1]);
    let expected = placement(&a);
    let back: Array3<f32> = Tensor::from_array(a).unwrap().try_into_array().unwrap();
    assert_eq!(placement(&back), expected);
}

#[test]
fn views_of_a_vector_become_arrays_once_alone() {
    let t = Tensor::from_vec((0..24).map(|i| i as f32).collect::<Vec<_>>(), &[4, 6]).unwrap();
    let view = t
        .index(&[
            IndexItem::Slice {
                start: Some(1),
                stop: None,
                step: Some(2),
            },
            IndexItem::Slice {
                start: Some(2),
                stop: Some(5),
                step: None,
            },
        ])
        .unwrap();
    let refused = view.try_into_array::<f32, Ix2>().unwrap_err();
    assert_eq!(refused.reason(), &IntoArrayReason::Shared);
    drop(t);
    let view = refused.into_tensor();
    let address = view.data_ptr() as usize;
    let array: Array2<f32> = view.try_into_array().unwrap();
    assert_eq!(array.as_ptr() as usize, address);
    assert_eq!(array.strides(), &[12, 1]);
    assert_eq!(
        array,
        dlbridge::ndarray::array![[8.0, 9.0, 10.0], [20.0, 21.0, 22.0]]
    );
    // The vector's other elements are still in the array's buffer.
    let (values, first) = array.into_raw_vec_and_offset();
    assert_eq!((values.len(), first), (24, Some(8)));
    // A `Vec` given to `from_owner` / `from_owner_mut` is kept as a vector.
    let values = vec![1u8, 2, 3];
    let address = values.as_ptr();
    let read_only = Tensor::from_owner(values, &[3]).unwrap();
    let back: Array1<u8> = read_only.try_into_array().unwrap();
    assert_eq!(back.as_ptr(), address);
    let back: Array1<u8> = Tensor::from_owner_mut(back.into_raw_vec_and_offset().0, &[3])
        .unwrap()
        .try_into_array()
        .unwrap();
    assert_eq!((back.as_ptr(), back.to_vec()), (address, vec![1, 2, 3]));
}

#[test]
fn every_refusal_gives_the_tensor_back() {
    fn refuse<T: dlbridge::Element, D: dlbridge::ndarray::Dimension>(
        t: Tensor,
        reason: IntoArrayReason,
    ) {
        let address = t.data_ptr();
        let shape = t.shape().to_vec();
        let Err(error) = t.try_into_array::<T, D>() else {
            panic!("not refused: expected {reason:?}")
        };
        assert_eq!(error.reason(), &reason);
        assert!(
            error
                .to_string()
                .starts_with("cannot take this tensor's memory"),
            "{error}"
        );
        let back = error.into_tensor();
        assert_eq!((back.data_ptr(), back.shape()), (address, &shape[..]));
    }
    let vector = || Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]).unwrap();
    // Shared: another handle, or an exported capsule.
    let t = vector();
    let other = t.clone();
    refuse::<f32, Ix2>(t, IntoArrayReason::Shared);
    drop(other);
    let t = vector();
    let managed = dlpack::export::<DLManagedTensorVersioned>(&t).unwrap();
    refuse::<f32, Ix2>(t, IntoArrayReason::Shared);
    // Imported: the capsule's memory belongs to its producer.
    refuse::<f32, Ix2>(dlpack::import(managed).unwrap(), IntoArrayReason::Foreign);
    // Allocated here (zeros, copies).
    refuse::<f32, Ix2>(
        Tensor::zeros(DType::Float32, &[2, 2]).unwrap(),
        IntoArrayReason::Allocated,
    );
    refuse::<f32, Ix2>(vector().deep_copy().unwrap(), IntoArrayReason::Allocated);
    // Another Rust owner.
    let boxed: Box<[f32]> = vec![0.0; 4].into_boxed_slice();
    refuse::<f32, Ix1>(
        Tensor::from_owner_mut(boxed, &[4]).unwrap(),
        IntoArrayReason::OtherOwner,
    );
    let arc: Arc<[f32]> = Arc::from(vec![0.0; 4]);
    refuse::<f32, Ix1>(
        Tensor::from_owner(arc, &[4]).unwrap(),
        IntoArrayReason::OtherOwner,
    );
    // A vector of another element type, after `reinterpret`.
    refuse::<u32, Ix2>(
        vector().reinterpret(DType::UInt32).unwrap(),
        IntoArrayReason::ElementType {
            vec: "f32",
            requested: "u32",
        },
    );
    // Dtype and rank.
    refuse::<f64, Ix2>(
        vector(),
        IntoArrayReason::ElementType {
            vec: "f32",
            requested: "f64",
        },
    );
    refuse::<f32, Ix3>(
        vector(),
        IntoArrayReason::Rank {
            tensor: 2,
            requested: 3,
        },
    );
    // Broadcast elements, which an owned array cannot have.
    let row = Tensor::from_vec(vec![1.0f32, 2.0], &[2]).unwrap();
    refuse::<f32, Ix2>(
        row.broadcast_to(&[3, 2]).unwrap(),
        IntoArrayReason::Layout {
            shape: vec![3, 2],
            strides: vec![0, 1],
        },
    );
    // Moved to shared memory: the vector no longer holds what is written.
    let t = vector();
    if t.share_memory().is_ok() {
        refuse::<f32, Ix2>(t, IntoArrayReason::SharedMemory);
    }
}

#[test]
fn a_dtype_mismatch_on_a_vector_of_that_type_is_refused() {
    // A vector of bytes reinterpreted as bool and back keeps its element
    // type; the dtype check is what refuses a bool tensor as `u8`.
    let t = Tensor::from_vec(vec![0u8, 1], &[2]).unwrap();
    let as_bool = t.reinterpret(DType::Bool).unwrap();
    drop(t);
    let error = as_bool.try_into_array::<u8, Ix1>().unwrap_err();
    assert_eq!(
        error.reason(),
        &IntoArrayReason::DType {
            tensor: DType::Bool,
            requested: DType::UInt8
        }
    );
}

/// Writes `byte` at element `index` of `t`, seen as `uint8` (the way a
/// NumPy `.view(np.uint8)` writes into `bool` memory).
fn write_byte(t: &Tensor, index: isize, byte: i64) {
    t.reinterpret(DType::UInt8)
        .unwrap()
        .index(&[IndexItem::Int(index)])
        .unwrap()
        .fill(Scalar::Int(byte))
        .unwrap();
}

#[test]
fn a_bool_vector_with_invalid_bytes_is_not_given_back() {
    // A `uint8` view of a `Vec<bool>` writes 2 into it: the vector is no
    // longer all `bool`s, so it does not come back as an `Array<bool>`.
    let t = Tensor::from_vec(vec![true, false, true], &[3]).unwrap();
    write_byte(&t, 1, 2);
    let error = t.try_into_array::<bool, Ix1>().unwrap_err();
    assert_eq!(error.reason(), &IntoArrayReason::InvalidBool { byte: 2 });
    // Given back whole; once the byte is valid again, the vector comes back.
    let t = error.into_tensor();
    t.reinterpret(DType::UInt8)
        .unwrap()
        .fill(Scalar::Int(1))
        .unwrap();
    let back: Array1<bool> = t.try_into_array().unwrap();
    assert_eq!(back.to_vec(), vec![true; 3]);
    // Elements outside the tensor's view count too: the array owns them all.
    let t = Tensor::from_vec(vec![false; 4], &[4]).unwrap();
    write_byte(&t, 3, 255);
    let first = t.index(&[IndexItem::Int(0)]).unwrap();
    drop(t);
    let error = first
        .try_into_array::<bool, dlbridge::ndarray::Ix0>()
        .unwrap_err();
    assert_eq!(error.reason(), &IntoArrayReason::InvalidBool { byte: 255 });
}

/// An owner of `bool`s whose `Drop` reads them (as bytes, to see what a
/// Rust `bool` read would have met).
struct BoolReader {
    values: Vec<bool>,
    largest_byte: Arc<AtomicUsize>,
}

impl AsMut<[bool]> for BoolReader {
    fn as_mut(&mut self) -> &mut [bool] {
        &mut self.values
    }
}

impl Drop for BoolReader {
    fn drop(&mut self) {
        let bytes = self.values.as_ptr().cast::<u8>();
        let largest = (0..self.values.len())
            // SAFETY: the vector's initialised bytes, read as `u8`.
            .map(|i| unsafe { bytes.add(i).read() })
            .max()
            .unwrap_or(0);
        self.largest_byte
            .store(usize::from(largest), Ordering::SeqCst);
    }
}

#[test]
fn a_bool_owner_gets_valid_bools_back() {
    // A `uint8` view writes 2 and 255 into an owner's `bool`s: the owner,
    // whose `Drop` reads them, gets 1 instead, never an invalid `bool`.
    let largest_byte = Arc::new(AtomicUsize::new(usize::MAX));
    let owner = BoolReader {
        values: vec![false; 4],
        largest_byte: Arc::clone(&largest_byte),
    };
    let t = Tensor::from_owner_mut(owner, &[4]).unwrap();
    let bytes = t.reinterpret(DType::UInt8).unwrap();
    write_byte(&bytes, 1, 2);
    write_byte(&bytes, 3, 255);
    drop(t);
    assert_eq!(largest_byte.load(Ordering::SeqCst), usize::MAX); // not yet dropped
    drop(bytes);
    assert_eq!(largest_byte.load(Ordering::SeqCst), 1);
}

#[test]
fn a_move_to_shared_memory_racing_try_into_array_never_loses_the_tensor() {
    // Another handle moves the storage to shared memory and lets go while
    // `try_into_array` runs: the vector's bytes are then stale, and the tensor
    // comes back refused (or the array, when the move came too late), never
    // a panic that drops the data.
    for round in 0..=255u8 {
        let t = Tensor::from_vec(vec![round; 64], &[64]).unwrap();
        let other = t.clone();
        let mover = std::thread::spawn(move || {
            let _ = other.share_memory();
        });
        let result = t.try_into_array::<u8, IxDyn>();
        // Joined first: the move holds an exclusive borrow while it copies.
        mover.join().unwrap();
        match result {
            Ok(array) => assert!(array.iter().all(|&v| v == round)),
            Err(error) => {
                assert!(matches!(
                    error.reason(),
                    IntoArrayReason::Shared | IntoArrayReason::SharedMemory
                ));
                let values = error.into_tensor().to_scalars().unwrap();
                assert_eq!(values, vec![Scalar::Int(round.into()); 64]);
            }
        }
    }
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
fn random_slices_of_random_grids_round_trip_in_place() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..2000 {
        let ndim = 1 + rng.below(4);
        let shape: Vec<usize> = (0..ndim).map(|_| 1 + rng.below(6)).collect();
        let n = shape.iter().product::<usize>();
        let mut array =
            Array::from_shape_vec(IxDyn(&shape), (0..n).map(|i| i as f32).collect()).unwrap();
        if rng.below(2) == 0 {
            array = array.reversed_axes();
        }
        for axis in 0..ndim {
            let len = array.shape()[axis];
            let start = rng.below(len + 1) as isize;
            let end = start + rng.below(len + 1 - start as usize) as isize;
            let step = [1, 2, 3, -1, -2][rng.below(5)];
            array.slice_axis_inplace(
                dlbridge::ndarray::Axis(axis),
                dlbridge::ndarray::Slice::new(start, Some(end), step),
            );
        }
        round_trip(array);
    }
}

/// `array` to a tensor and back: the same placement (strides of axes of
/// length 1 aside) and values.
fn round_trip(array: ArrayD<f32>) {
    let expected = placement(&array);
    let copy = array.clone();
    let t = Tensor::from_array(array).unwrap();
    assert_eq!(tensor_placement(&t), expected);
    let back: ArrayD<f32> = t.try_into_array().unwrap();
    assert_eq!(back, copy);
    if !back.is_empty() {
        assert_eq!(
            placement_of_long_axes(placement(&back)),
            placement_of_long_axes(expected)
        );
    }
}

#[test]
fn random_reshapes_of_offset_runs_round_trip_in_place() {
    // What ndarray makes of a vector sliced past its start: reshaped in
    // either order, axes reversed, permuted, with axes of length 1 inserted.
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for _ in 0..2000 {
        let ndim = 1 + rng.below(4);
        let shape: Vec<usize> = (0..ndim).map(|_| 1 + rng.below(5)).collect();
        let numel = shape.iter().product::<usize>();
        let skip = rng.below(7);
        let run = Array1::from_iter((0..skip + numel + rng.below(4)).map(|i| i as f32))
            .slice_move(s![skip as isize..(skip + numel) as isize]);
        let order = if rng.below(2) == 0 {
            dlbridge::ndarray::Order::C
        } else {
            dlbridge::ndarray::Order::F
        };
        let mut array = run.into_shape_with_order((IxDyn(&shape), order)).unwrap();
        for axis in 0..ndim {
            if rng.below(3) == 0 {
                array.invert_axis(dlbridge::ndarray::Axis(axis));
            }
        }
        if rng.below(3) == 0 {
            array = array.insert_axis(dlbridge::ndarray::Axis(rng.below(ndim + 1)));
        }
        round_trip(array);
    }
}
