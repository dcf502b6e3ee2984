//! DLPack import and export of Rust-owned tensors, without Python: foreign
//! descriptors are validated, and every deleter runs exactly once, on success
//! and on every error path.

use dlbridge::{Error, IndexItem, Scalar, Tensor, dlpack};
use dlpark::ffi::{DLDataType, DLDevice, DLManagedTensor, DLManagedTensorVersioned};
use dlpark::metadata::Dynamic;
use dlpark::{DlpackFlags, Managed, ManagedTensorBase};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A producer's buffer that counts how often it is released.
struct CountedBuffer {
    data: Vec<f32>,
    releases: Arc<AtomicUsize>,
}

impl Drop for CountedBuffer {
    fn drop(&mut self) {
        self.releases.fetch_add(1, Ordering::SeqCst);
    }
}

/// Describes how a test producer fills in its descriptor.
struct Descriptor {
    shape: Vec<i64>,
    strides: Vec<i64>,
    dtype: DLDataType,
    device: DLDevice,
    null_data: bool,
    byte_offset: u64,
    flags: DlpackFlags,
}

impl Default for Descriptor {
    fn default() -> Self {
        Descriptor {
            shape: vec![2, 3],
            strides: vec![3, 1],
            dtype: DLDataType::F32,
            device: DLDevice::CPU,
            null_data: false,
            byte_offset: 0,
            flags: DlpackFlags::empty(),
        }
    }
}

fn produce<M: ManagedTensorBase>(descriptor: Descriptor) -> (Managed<M>, Arc<AtomicUsize>) {
    let releases = Arc::new(AtomicUsize::new(0));
    let buffer = Box::new(CountedBuffer {
        data: (0..6).map(|v| v as f32).collect(),
        releases: Arc::clone(&releases),
    });
    let data = if descriptor.null_data {
        std::ptr::null_mut()
    } else {
        buffer.data.as_ptr().cast_mut().cast()
    };
    let mut initialized = Dynamic::new(descriptor.shape, descriptor.strides)
        .initialize_as::<M>(buffer)
        .unwrap();
    initialized
        .set_data(data)
        .set_dtype(descriptor.dtype)
        .set_device(descriptor.device)
        .set_byte_offset(descriptor.byte_offset);
    // SAFETY: test descriptors only claim flags that describe them; the
    // buffer lives in the managed tensor's context.
    unsafe { initialized.set_flags_unchecked(descriptor.flags) };
    // SAFETY: the context owns the data the descriptor points into; malformed
    // descriptors are built on purpose and never dereferenced, because
    // `dlpack::import` must refuse them.
    (unsafe { initialized.finish() }, releases)
}

fn floats(tensor: &Tensor) -> Vec<f64> {
    tensor
        .to_scalars()
        .unwrap()
        .into_iter()
        .map(|value| match value {
            Scalar::Float(v) => v,
            other => panic!("expected a float, got {other:?}"),
        })
        .collect()
}

#[test]
fn imported_memory_is_shared_and_released_once_after_the_last_view() {
    let (managed, releases) = produce::<DLManagedTensorVersioned>(Descriptor::default());
    let data = managed.validate().unwrap().data_ptr() as usize;
    let tensor = dlpack::import(managed).unwrap();
    assert_eq!(tensor.data_ptr() as usize, data);
    assert_eq!(tensor.shape(), &[2, 3]);
    let column = tensor
        .index(&[IndexItem::Ellipsis, IndexItem::Int(2)])
        .unwrap();
    drop(tensor);
    assert_eq!(
        releases.load(Ordering::SeqCst),
        0,
        "a view keeps the memory"
    );
    assert_eq!(floats(&column), vec![2.0, 5.0]);
    drop(column);
    assert_eq!(releases.load(Ordering::SeqCst), 1);
}

#[test]
fn re_exported_import_keeps_the_producer_alive_until_the_consumer_is_done() {
    let (managed, releases) = produce::<DLManagedTensor>(Descriptor::default());
    let tensor = dlpack::import(managed).unwrap();
    let exported = dlpack::export::<DLManagedTensorVersioned>(&tensor).unwrap();
    drop(tensor);
    assert_eq!(releases.load(Ordering::SeqCst), 0);
    drop(exported);
    assert_eq!(releases.load(Ordering::SeqCst), 1);
}

#[test]
fn byte_offset_and_read_only_flag_are_honoured() {
    let (managed, releases) = produce::<DLManagedTensorVersioned>(Descriptor {
        shape: vec![2],
        strides: vec![1],
        byte_offset: 4 * 4,
        flags: DlpackFlags::READ_ONLY,
        ..Descriptor::default()
    });
    let tensor = dlpack::import(managed).unwrap();
    assert_eq!(floats(&tensor), vec![4.0, 5.0]);
    assert!(tensor.is_readonly());
    assert_eq!(tensor.fill(Scalar::Float(0.0)), Err(Error::ReadOnly));
    assert_eq!(floats(&tensor), vec![4.0, 5.0]);
    drop(tensor);
    assert_eq!(releases.load(Ordering::SeqCst), 1);
}

#[test]
fn negative_and_zero_strides_are_imported_as_they_are() {
    let (managed, _) = produce::<DLManagedTensorVersioned>(Descriptor {
        shape: vec![3, 2],
        strides: vec![-1, 0],
        byte_offset: 2 * 4,
        ..Descriptor::default()
    });
    let tensor = dlpack::import(managed).unwrap();
    assert_eq!(tensor.strides(), &[-1, 0]);
    assert_eq!(floats(&tensor), vec![2.0, 2.0, 1.0, 1.0, 0.0, 0.0]);
    assert!(!tensor.is_contiguous());
}

#[test]
fn malformed_descriptors_are_refused_and_still_released_once() {
    let cases: Vec<(&str, Descriptor)> = vec![
        (
            "null data",
            Descriptor {
                null_data: true,
                ..Descriptor::default()
            },
        ),
        (
            "cuda device",
            Descriptor {
                device: DLDevice::cuda(0),
                ..Descriptor::default()
            },
        ),
        (
            "vector dtype",
            Descriptor {
                dtype: DLDataType::new(dlpark::ffi::DLDataTypeCode::FLOAT, 32, 2),
                ..Descriptor::default()
            },
        ),
        (
            "float8 dtype",
            Descriptor {
                dtype: DLDataType::F8E4M3FN,
                ..Descriptor::default()
            },
        ),
        (
            "stride overflow",
            Descriptor {
                strides: vec![i64::MAX, 1],
                ..Descriptor::default()
            },
        ),
        (
            "byte offset overflow",
            Descriptor {
                byte_offset: u64::MAX,
                ..Descriptor::default()
            },
        ),
        (
            "more dimensions than any tensor has",
            Descriptor {
                shape: vec![1; 65],
                strides: vec![1; 65],
                ..Descriptor::default()
            },
        ),
        (
            "negative dimension",
            Descriptor {
                shape: vec![2, -3],
                ..Descriptor::default()
            },
        ),
        (
            "negative stride below address zero",
            Descriptor {
                strides: vec![i64::MIN / 8, 1],
                ..Descriptor::default()
            },
        ),
    ];
    for (name, descriptor) in cases {
        let (managed, releases) = produce::<DLManagedTensorVersioned>(descriptor);
        let error = dlpack::import(managed).expect_err(name);
        assert!(
            matches!(
                error,
                Error::InvalidDLPack { .. }
                    | Error::InvalidMemory { .. }
                    | Error::UnsupportedDevice { .. }
                    | Error::UnsupportedDLPackDType { .. }
            ),
            "{name}: {error:?}"
        );
        assert_eq!(releases.load(Ordering::SeqCst), 1, "{name}");
    }
}

#[test]
fn misaligned_memory_is_shared_and_only_typed_access_refuses_it() {
    // Five float32 elements from byte 2 of six: DLPack requires no alignment
    // on the CPU, and NumPy and torch share such memory too.
    let (managed, releases) = produce::<DLManagedTensorVersioned>(Descriptor {
        shape: vec![5],
        strides: vec![1],
        byte_offset: 2,
        ..Descriptor::default()
    });
    let tensor = dlpack::import(managed).unwrap();
    // A Vec<f32>'s buffer is 4-byte aligned: two bytes in, it is not.
    assert_eq!(tensor.data_ptr() as usize % 4, 2);
    assert!(matches!(
        tensor.as_slice::<f32>(),
        Err(Error::Misaligned { align: 4, .. })
    ));
    assert!(matches!(
        tensor.view::<f32>(),
        Err(Error::Misaligned { .. })
    ));
    // Copies read it with unaligned loads into aligned memory: one copy, the
    // same bytes, no alias.
    let copy = tensor.deep_copy().unwrap();
    assert_eq!(copy.data_ptr() as usize % 64, 0);
    // SAFETY: both hold 20 bytes, nothing writes them meanwhile.
    let (ours, theirs) = unsafe {
        (
            std::slice::from_raw_parts(tensor.data_ptr(), 20).to_vec(),
            std::slice::from_raw_parts(copy.data_ptr(), 20).to_vec(),
        )
    };
    assert_eq!(ours, theirs);
    assert_eq!(copy.as_slice::<f32>().unwrap().len(), 5);
    drop((tensor, copy));
    assert_eq!(releases.load(Ordering::SeqCst), 1);
}

#[test]
fn empty_tensors_may_have_null_data() {
    let (managed, releases) = produce::<DLManagedTensorVersioned>(Descriptor {
        shape: vec![0, 3],
        null_data: true,
        ..Descriptor::default()
    });
    let tensor = dlpack::import(managed).unwrap();
    assert_eq!(tensor.numel(), 0);
    assert_eq!(tensor.deep_copy().unwrap().shape(), &[0, 3]);
    drop(tensor);
    assert_eq!(releases.load(Ordering::SeqCst), 1);
}
