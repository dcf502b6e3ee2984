//! A fuzz harness for DLPack import validation: descriptors decoded from
//! pseudo-random bytes, fed to `dlpack::import`.
//!
//! Every descriptor must either be refused with an error or imported; never a
//! panic, and its deleter must run exactly once either way. An imported
//! descriptor is read back (through the copy kernels) only when the harness
//! has checked that every element it addresses lies inside the real buffer
//! behind it, since DLPack carries no bounds for dlbridge to check.
//!
//!     cargo test --release --test fuzz_import                 # 20,000 cases
//!     DLBRIDGE_FUZZ_CASES=5000000 cargo test --release --test fuzz_import
//!     valgrind --error-exitcode=1 target/release/deps/fuzz_import-<hash>
//!
//! The seed is fixed (and printed on failure with the case number) so that a
//! failing case can be replayed; `DLBRIDGE_FUZZ_SEED` picks another.

use dlbridge::{DType, dlpack};
use dlpark::ffi::{DLDataType, DLDataTypeCode, DLDevice, DLDeviceType, DLManagedTensorVersioned};
use dlpark::metadata::Dynamic;
use dlpark::{DlpackFlags, Managed};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const BUFFER_BYTES: usize = 4096;

/// xorshift64*: small, fast and good enough to spread bytes.
struct Bytes(u64);

impl Bytes {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    /// Mostly small values, sometimes extreme ones: where validation bugs
    /// live.
    fn interesting_i64(&mut self) -> i64 {
        match self.byte() % 8 {
            0 => i64::MAX - (self.byte() as i64),
            1 => i64::MIN + (self.byte() as i64),
            2 => (self.next() as i64) >> (self.byte() % 64),
            3 => -((self.byte() % 16) as i64),
            _ => (self.byte() % 12) as i64,
        }
    }
}

struct Buffer {
    bytes: Vec<u64>,
    releases: Arc<AtomicUsize>,
}

impl Drop for Buffer {
    fn drop(&mut self) {
        self.releases.fetch_add(1, Ordering::SeqCst);
    }
}

/// Where a case's real buffer is and what its descriptor claims.
struct Claim {
    buffer: (usize, usize),
    shape: Vec<i64>,
    strides: Vec<i64>,
    offset: u64,
}

struct Case {
    managed: Managed<DLManagedTensorVersioned>,
    releases: Arc<AtomicUsize>,
    claim: Claim,
}

fn decode(bytes: &mut Bytes) -> Option<Case> {
    let ndim = match bytes.byte() % 16 {
        0 => 65 + (bytes.byte() % 4) as usize,
        n => (n % 5) as usize,
    };
    let shape: Vec<i64> = (0..ndim).map(|_| bytes.interesting_i64()).collect();
    let strides: Vec<i64> = (0..ndim).map(|_| bytes.interesting_i64()).collect();
    let codes = [0u8, 1, 2, 3, 4, 5, 6, 7, 8, 200];
    let dtype = DLDataType::new(
        DLDataTypeCode(codes[bytes.byte() as usize % codes.len()]),
        [1u8, 8, 16, 24, 32, 64, 128][bytes.byte() as usize % 7],
        if bytes.byte().is_multiple_of(8) { 2 } else { 1 },
    );
    let device = if bytes.byte().is_multiple_of(8) {
        DLDevice {
            device_type: DLDeviceType(bytes.byte() as u32 % 20),
            device_id: bytes.byte() as i32 - 2,
        }
    } else {
        DLDevice::CPU
    };
    let offset = match bytes.byte() % 6 {
        0 => u64::MAX - bytes.byte() as u64,
        1 => bytes.next(),
        _ => (bytes.byte() % 64) as u64,
    };
    let null_data = bytes.byte().is_multiple_of(10);
    let flags = if bytes.byte().is_multiple_of(2) {
        DlpackFlags::READ_ONLY
    } else {
        DlpackFlags::empty()
    };

    let releases = Arc::new(AtomicUsize::new(0));
    let buffer = Box::new(Buffer {
        bytes: vec![0x0101_0101_0101_0101; BUFFER_BYTES / 8],
        releases: Arc::clone(&releases),
    });
    let start = buffer.bytes.as_ptr() as usize;
    let data = if null_data {
        std::ptr::null_mut()
    } else {
        buffer.bytes.as_ptr().cast_mut().cast()
    };
    // dlpark refuses some metadata before a tensor exists (a rank too large
    // for i32, say); those cases release the buffer as the builder drops it.
    let mut initialized = Dynamic::new(shape.clone(), strides.clone())
        .initialize_as::<DLManagedTensorVersioned>(buffer)
        .ok()?;
    initialized
        .set_data(data)
        .set_dtype(dtype)
        .set_device(device)
        .set_byte_offset(offset);
    // SAFETY: the flags are an input under test; nothing asserts IS_COPIED.
    unsafe { initialized.set_flags_unchecked(flags) };
    // SAFETY: the context owns the buffer; the descriptor may describe memory
    // beyond it, which is what the harness checks before reading anything.
    let managed = unsafe { initialized.finish() };
    Some(Case {
        managed,
        releases,
        claim: Claim {
            buffer: (start, start + BUFFER_BYTES),
            shape,
            strides,
            offset,
        },
    })
}

/// Whether every element of the imported layout lies inside the buffer.
fn inside(case: &Claim, itemsize: usize) -> bool {
    let base = case.buffer.0 as i128 + case.offset as i128;
    let (mut low, mut high) = (0i128, 0i128);
    for (&size, &stride) in case.shape.iter().zip(&case.strides) {
        if size == 0 {
            return true;
        }
        let reach = (size as i128 - 1) * stride as i128 * itemsize as i128;
        if reach < 0 {
            low += reach;
        } else {
            high += reach;
        }
    }
    base + low >= case.buffer.0 as i128 && base + high + itemsize as i128 <= case.buffer.1 as i128
}

#[test]
fn import_validation_never_panics_and_releases_every_descriptor_once() {
    let cases: u64 = std::env::var("DLBRIDGE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let seed: u64 = std::env::var("DLBRIDGE_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x00d1_b41d_9e00_0001);
    let mut bytes = Bytes(seed | 1);
    let (mut imported, mut read, mut refused) = (0u64, 0u64, 0u64);
    for case_number in 0..cases {
        let Some(case) = decode(&mut bytes) else {
            continue;
        };
        let Case {
            managed,
            releases,
            claim,
        } = case;
        match dlpack::import(managed) {
            Ok(tensor) => {
                imported += 1;
                assert!(DType::ALL.contains(&tensor.dtype()));
                // Broadcast (zero-stride) descriptors can claim more elements
                // than memory holds; reading those back is refused with
                // `OutOfMemory`, so only modest ones are read.
                let modest = tensor.numel() > 0 && tensor.numel() <= 1 << 20;
                if modest && inside(&claim, tensor.itemsize()) {
                    let values = tensor.to_scalars().expect("no borrow is held");
                    assert_eq!(values.len(), tensor.numel());
                    let copy = tensor.deep_copy().expect("a small copy");
                    assert_eq!(copy.to_scalars().unwrap(), values);
                    read += 1;
                }
                drop(tensor);
            }
            Err(_) => refused += 1,
        }
        assert_eq!(
            releases.load(Ordering::SeqCst),
            1,
            "case {case_number} (seed {seed:#x}): released {} times",
            releases.load(Ordering::SeqCst)
        );
    }
    println!("{cases} cases: {imported} imported ({read} read back), {refused} refused");
    assert!(
        refused > 0 && imported > 0,
        "the generator covers both outcomes"
    );
}
