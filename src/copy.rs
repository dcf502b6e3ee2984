//! Strided copy and cast kernels.
//!
//! These are the only functions that read and write tensor memory in bulk.
//! They walk two layouts of the same shape in lockstep; the fast paths (one
//! `memcpy` for contiguous same-dtype copies, a typed element copy for strided
//! same-dtype ones) keep `clone()` and `contiguous()` at memory speed.
//!
//! A leaf module: a kernel sees memory as an address, a [`Layout`] and a
//! [`DType`] (`Source`, `Destination`), never as a `Tensor`, so it
//! depends on nothing a tensor adds (storage, borrows, the read-only flag);
//! `crate::tensor` checks those and calls in.
//!
//! Casts convert each element as [`crate::scalar::Scalar::cast_to`] does,
//! through the same per-dtype conversions (`crate::scalar::Convert`),
//! rounding once to float dtypes (see `crate::round`).
//!
//! # Memory model
//!
//! A copy may run without the GIL, while Python code, torch or another
//! extension writes the same memory; dlbridge's own borrows are refused by
//! the borrow registry, but writers outside it cannot be. So these kernels
//! touch tensor memory through raw pointers only (`read_unaligned`,
//! `write_unaligned`, `copy_nonoverlapping`), never through `&[T]` or
//! `&mut [T]`: Rust assumes the memory behind a reference does not change
//! while it lives, and a slice over memory someone else writes would break
//! that. A writer outside dlbridge running at the same time (a Python thread
//! without the GIL, another library) still races with the copy: that is a
//! data race, undefined behaviour in Rust's memory model as in C's, the same
//! one a NumPy copy has with such a writer, and dlbridge cannot prevent it
//! for writers it does not know of. Raw pointers keep it from being worse
//! (no reference over the memory for the compiler to reason from). float32 <-> float16
//! use F16C's unaligned vector loads and stores on raw pointers; conversions
//! through `half`'s slice functions run on small stack buffers instead.

use crate::dtype::{DType, dispatch_dtype};
use crate::layout::Layout;
use crate::scalar::Convert;

/// Calls `visit` with the storage offset of every element of `layout`, in
/// row-major order.
pub(crate) fn for_each_offset(layout: &Layout, mut visit: impl FnMut(isize)) {
    for_each_offset_pair(layout, layout, |offset, _| visit(offset));
}

/// Walks two layouts of the same shape together, calling `visit` with the
/// offsets of corresponding elements, in row-major order of the shape.
pub(crate) fn for_each_offset_pair(a: &Layout, b: &Layout, mut visit: impl FnMut(isize, isize)) {
    debug_assert_eq!(a.shape(), b.shape());
    let shape = a.shape();
    if shape.contains(&0) {
        return;
    }
    let Some((&inner, outer_shape)) = shape.split_last() else {
        visit(a.offset(), b.offset());
        return;
    };
    let (a_inner, b_inner) = (a.strides()[shape.len() - 1], b.strides()[shape.len() - 1]);
    let mut index = vec![0usize; outer_shape.len()];
    let (mut a_row, mut b_row) = (a.offset(), b.offset());
    loop {
        let (mut a_at, mut b_at) = (a_row, b_row);
        for _ in 0..inner {
            visit(a_at, b_at);
            a_at += a_inner;
            b_at += b_inner;
        }
        // Advance the outer odometer, carrying into higher dimensions.
        let mut axis = outer_shape.len();
        loop {
            if axis == 0 {
                return;
            }
            axis -= 1;
            index[axis] += 1;
            a_row += a.strides()[axis];
            b_row += b.strides()[axis];
            if index[axis] < outer_shape[axis] {
                break;
            }
            a_row -= a.strides()[axis] * outer_shape[axis] as isize;
            b_row -= b.strides()[axis] * outer_shape[axis] as isize;
            index[axis] = 0;
        }
    }
}

/// Elements a kernel reads.
#[derive(Clone, Copy)]
pub(crate) struct Source<'a> {
    /// The address of the first element: the layout's offset is already
    /// applied (as `Tensor::data_ptr` gives it), and only the layout's shape
    /// and strides are read.
    pub(crate) data: *const u8,
    /// Shape and strides, in elements.
    pub(crate) layout: &'a Layout,
    /// The element type.
    pub(crate) dtype: DType,
}

/// Elements a kernel writes; as [`Source`], with a writable address.
#[derive(Clone, Copy)]
pub(crate) struct Destination<'a> {
    /// The address of the first element, as in [`Source::data`].
    pub(crate) data: *mut u8,
    /// Shape and strides, in elements.
    pub(crate) layout: &'a Layout,
    /// The element type.
    pub(crate) dtype: DType,
}

/// The bytes `numel` elements of `dtype` occupy, saturating (a broadcast view
/// may stand for more elements than memory holds).
fn nbytes(layout: &Layout, dtype: DType) -> usize {
    layout.numel().saturating_mul(dtype.itemsize())
}

/// Copies `src` into `dst`, converting each element to `dst`'s dtype.
///
/// # Safety
///
/// - The two layouts have the same shape (broadcast `src` first).
/// - Every element `src.layout`'s shape and strides reach from `src.data`
///   (at `src.data + sum(index[k] * strides[k]) * itemsize`) lies in memory
///   that stays allocated and readable for the call and holds a value of
///   `src.dtype` (every bit pattern is one, `bool`'s included: it is read as
///   a byte).
/// - Every element of `dst` lies likewise in memory that stays allocated and
///   writable for the call.
/// - The two do not overlap; no `&mut` to the source's elements, and no
///   reference at all to the destination's, is alive during the call.
///   Writers outside Rust's knowledge (Python code, another library, without
///   the GIL) writing at the same time race with the copy, which is undefined
///   behaviour that dlbridge cannot rule out for them: see the module
///   documentation.
///
/// Alignment is not needed. `Tensor::assign` and `Tensor::to_dtype_with`
/// check all of this (and the read-only flag) before calling.
pub(crate) unsafe fn copy_cast(src: Source<'_>, dst: Destination<'_>) {
    assert_eq!(
        src.layout.shape(),
        dst.layout.shape(),
        "copy_cast needs equal shapes"
    );
    let n = src.layout.numel();
    if n == 0 {
        return;
    }
    let (src_type, dst_type) = (src.dtype, dst.dtype);
    let contiguous = src.layout.is_contiguous() && dst.layout.is_contiguous();
    let threads = threads_for(
        nbytes(src.layout, src_type).max(nbytes(dst.layout, dst_type)),
        dst.layout,
    );
    if contiguous && src_type == dst_type {
        let (s, d, bytes) = (
            SendPtr(src.data.cast_mut()),
            SendPtr(dst.data),
            nbytes(src.layout, src_type),
        );
        in_parallel(threads, bytes, |lo, hi| {
            // SAFETY: both layouts are contiguous, so each covers `bytes`
            // bytes from its first element, and `lo..hi` lies within them;
            // the caller guarantees they do not overlap, and the chunks are
            // disjoint.
            unsafe { std::ptr::copy_nonoverlapping(s.get().add(lo), d.get().add(lo), hi - lo) };
        });
        return;
    }
    if contiguous {
        // SAFETY: both layouts are contiguous, so each side is `n` elements
        // from its first; the rest is the caller's guarantee.
        let done = unsafe { half_slice_cast(src.data, src_type, dst.data, dst_type, n, threads) };
        if done {
            return;
        }
    }
    let mut dims = Dims::coalesce(src.layout, dst.layout);
    dims.threads = threads;
    let (s, d) = (src.data, dst.data);
    if src_type == dst_type {
        // A copy moves bits: one unsigned type of the element's size serves
        // every dtype of that size.
        // SAFETY: in every arm, the caller guarantees the elements of both
        // layouts and that they do not overlap, and the representation types
        // have the dtype's size.
        unsafe {
            match src_type.itemsize() {
                1 => dims.run(s.cast::<u8>(), d.cast::<u8>(), |v| v),
                2 => dims.run(s.cast::<u16>(), d.cast::<u16>(), |v| v),
                4 => dims.run(s.cast::<u32>(), d.cast::<u32>(), |v| v),
                8 => dims.run(s.cast::<u64>(), d.cast::<u64>(), |v| v),
                _ => dims.run(s.cast::<[u64; 2]>(), d.cast::<[u64; 2]>(), |v| v),
            }
        }
        return;
    }
    // SAFETY: as above, with `s` holding `src_type` and `d` `dst_type`
    // elements.
    unsafe { cast_dispatch(src_type, dst_type, &dims, s, d) };
}

/// Elements per chunk of [`convert_in_chunks`]: the stack buffers of one chunk
/// (at most 4 KiB of float64, 2 KiB of float32 and 1 KiB of float16) stay in
/// L1 while the whole chunk is converted at once.
const CHUNK: usize = 512;

/// Contiguous conversions between float16/bfloat16 and float32/float64, with
/// the CPU's conversion instructions (F16C) for float16 where it has them.
/// Returns `false`, having done nothing, for other pairs.
///
/// float32 <-> float16 use F16C directly on tensor memory ([`f16c`]); the
/// other float16 pairs use `half`'s slice functions (F16C, or software), which
/// need Rust slices, and those must never cover tensor memory (see the module
/// documentation): elements are copied in and out of stack buffers, and
/// converted there.
///
/// # Safety
///
/// `s` and `d` address `n` contiguous elements of `src` and `dst` (readable
/// and writable respectively) that do not overlap, as in [`copy_cast`].
unsafe fn half_slice_cast(
    s: *const u8,
    src: DType,
    d: *mut u8,
    dst: DType,
    n: usize,
    threads: usize,
) -> bool {
    use half::slice::HalfFloatSliceExt;
    use half::{bf16, f16};
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    if f16c::available() {
        let (s, d) = (SendPtr(s.cast_mut()), SendPtr(d));
        match (src, dst) {
            (DType::Float32, DType::Float16) => {
                in_parallel(threads, n, |lo, hi| {
                    // SAFETY: F16C is available; both sides are contiguous
                    // with `n` elements of the named types and do not overlap
                    // (the caller's guarantees); elements `lo..hi` lie within
                    // them, and threads take disjoint ranges.
                    unsafe {
                        f16c::from_f32(
                            s.get().cast::<f32>().add(lo),
                            d.get().cast::<u16>().add(lo),
                            hi - lo,
                        )
                    }
                });
                return true;
            }
            (DType::Float16, DType::Float32) => {
                in_parallel(threads, n, |lo, hi| {
                    // SAFETY: as above.
                    unsafe {
                        f16c::to_f32(
                            s.get().cast::<u16>().add(lo),
                            d.get().cast::<f32>().add(lo),
                            hi - lo,
                        )
                    }
                });
                return true;
            }
            _ => {}
        }
    }
    // SAFETY: in every arm, both sides are contiguous with `n` elements of
    // the named types and do not overlap (the caller's guarantees), and no
    // conversion needs alignment.
    unsafe {
        match (src, dst) {
            (DType::Float32, DType::Float16) => {
                convert_in_chunks(s, d, n, threads, |i: &[f32], o: &mut [f16]| {
                    o.convert_from_f32_slice(i)
                })
            }
            // bfloat16 conversions are plain integer arithmetic, which the
            // compiler vectorises in a loop over raw pointers as well as in
            // `half`'s slice loop, without the buffers.
            (DType::Float32, DType::BFloat16) => convert_each(s, d, n, threads, bf16::from_f32),
            (DType::BFloat16, DType::Float32) => convert_each(s, d, n, threads, bf16::to_f32),
            (DType::BFloat16, DType::Float64) => convert_each(s, d, n, threads, bf16::to_f64),
            // Float64 narrows to float32 rounding to odd, so that the one
            // rounding to nearest even in the slice conversion is the only one
            // (see `crate::round`).
            (DType::Float64, DType::Float16) => {
                convert_in_chunks(s, d, n, threads, |i: &[f64], o: &mut [f16]| {
                    o.convert_from_f32_slice(&f64_chunk_to_f32_odd(i)[..i.len()])
                })
            }
            (DType::Float64, DType::BFloat16) => {
                convert_in_chunks(s, d, n, threads, |i: &[f64], o: &mut [bf16]| {
                    o.convert_from_f32_slice(&f64_chunk_to_f32_odd(i)[..i.len()])
                })
            }
            (DType::Float16, DType::Float32) => {
                convert_in_chunks(s, d, n, threads, |i: &[f16], o: &mut [f32]| {
                    i.convert_to_f32_slice(o)
                })
            }
            (DType::Float16, DType::Float64) => {
                convert_in_chunks(s, d, n, threads, |i: &[f16], o: &mut [f64]| {
                    i.convert_to_f64_slice(o)
                })
            }
            _ => return false,
        }
    }
    true
}

/// float32 <-> float16 with the F16C instructions, eight elements at a time,
/// loaded and stored through raw pointers straight from and to tensor memory:
/// no slices over tensor memory and no copies through buffers. Measured (1 MiB,
/// in cache) 1.8x faster than `half`'s slice functions for float32 -> float16
/// and 2.8x for float16 -> float32; those went through the buffers at 0.6x and
/// 0.9x.
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
mod f16c {
    #[cfg(target_arch = "x86")]
    use std::arch::x86::*;
    #[cfg(target_arch = "x86_64")]
    use std::arch::x86_64::*;

    /// Whether this CPU has F16C (and AVX, for the 256-bit loads and stores).
    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx") && std::arch::is_x86_feature_detected!("f16c")
    }

    /// Converts `n` float32 at `s` to float16 (as bits) at `d`, rounding to
    /// nearest even.
    ///
    /// # Safety
    ///
    /// [`available`] is true; `s` and `d` address `n` readable and `n`
    /// writable elements that do not overlap. Alignment is not needed.
    #[target_feature(enable = "avx,f16c")]
    pub(super) unsafe fn from_f32(s: *const f32, d: *mut u16, n: usize) {
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: elements `i..i + 8` lie within the `n` of each side;
            // `loadu`/`storeu` need no alignment. Rounding mode 0 is IEEE
            // 754's round to nearest, ties to even.
            unsafe {
                let wide = _mm256_loadu_ps(s.add(i));
                let narrow = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(wide);
                _mm_storeu_si128(d.add(i).cast(), narrow);
            }
            i += 8;
        }
        for i in i..n {
            // SAFETY: element `i` lies within both sides.
            unsafe {
                let value = half::f16::from_f32_const(s.add(i).read_unaligned());
                d.add(i).write_unaligned(value.to_bits());
            }
        }
    }

    /// Converts `n` float16 (as bits) at `s` to float32 at `d`, exactly.
    ///
    /// # Safety
    ///
    /// As [`from_f32`].
    #[target_feature(enable = "avx,f16c")]
    pub(super) unsafe fn to_f32(s: *const u16, d: *mut f32, n: usize) {
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: as in `from_f32`.
            unsafe {
                let narrow = _mm_loadu_si128(s.add(i).cast());
                _mm256_storeu_ps(d.add(i), _mm256_cvtph_ps(narrow));
            }
            i += 8;
        }
        for i in i..n {
            // SAFETY: element `i` lies within both sides.
            unsafe {
                let value = half::f16::from_bits(s.add(i).read_unaligned());
                d.add(i).write_unaligned(value.to_f32_const());
            }
        }
    }
}

/// A chunk of float64 rounded to float32 to odd, for a second rounding to a
/// half type; only the first `chunk.len()` elements are meaningful.
#[inline]
fn f64_chunk_to_f32_odd(chunk: &[f64]) -> [f32; CHUNK] {
    let mut narrowed = [0f32; CHUNK];
    for (to, &from) in narrowed.iter_mut().zip(chunk) {
        *to = crate::round::f64_to_f32_odd(from);
    }
    narrowed
}

/// Converts `n` contiguous elements from `s` to `d` one at a time, reading and
/// writing through raw pointers.
///
/// # Safety
///
/// As [`convert_in_chunks`].
unsafe fn convert_each<S: Copy, D: Copy>(
    s: *const u8,
    d: *mut u8,
    n: usize,
    threads: usize,
    convert: impl Fn(S) -> D + Sync,
) {
    let (s, d) = (SendPtr(s.cast_mut().cast::<S>()), SendPtr(d.cast::<D>()));
    in_parallel(threads, n, |lo, hi| {
        let (s, d) = (s.get().cast_const(), d.get());
        for i in lo..hi {
            // SAFETY: element `i` lies within the `n` of each tensor
            // (forwarded from the caller), and threads take disjoint ranges of
            // the destination; unaligned accesses need no alignment.
            unsafe { d.add(i).write_unaligned(convert(s.add(i).read_unaligned())) };
        }
    });
}

/// Converts `n` contiguous elements from `s` to `d`, [`CHUNK`] at a time: each
/// chunk is copied into a stack buffer, converted by `convert` into another
/// (slices of equal length), and copied out.
///
/// Only the stack buffers are ever Rust slices. Tensor memory is touched by
/// byte copies through raw pointers alone: no reference is ever made over
/// memory a writer outside dlbridge may race with (module documentation).
///
/// # Safety
///
/// `s` and `d` point to `n` contiguous, non-overlapping elements of `S` and
/// `D`, readable and writable respectively. Alignment is not needed; the bytes
/// of `s` must be valid `S` values, which holds for the float types used here
/// (every bit pattern is one).
unsafe fn convert_in_chunks<S: Copy + Default, D: Copy + Default>(
    s: *const u8,
    d: *mut u8,
    n: usize,
    threads: usize,
    convert: impl Fn(&[S], &mut [D]) + Sync,
) {
    let (s, d) = (SendPtr(s.cast_mut()), SendPtr(d));
    let (s_size, d_size) = (size_of::<S>(), size_of::<D>());
    in_parallel(threads, n, |lo, hi| {
        let (mut input, mut output) = ([S::default(); CHUNK], [D::default(); CHUNK]);
        let mut at = lo;
        while at < hi {
            let len = CHUNK.min(hi - at);
            // SAFETY: elements `at..at + len` lie within the `n` of each
            // tensor (forwarded from the caller), threads take disjoint
            // ranges of the destination, and the buffers hold `CHUNK >= len`
            // elements. The copies are bytewise, so neither side needs
            // alignment.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    s.get().add(at * s_size),
                    input.as_mut_ptr().cast::<u8>(),
                    len * s_size,
                );
            }
            convert(&input[..len], &mut output[..len]);
            // SAFETY: as above.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    output.as_ptr().cast::<u8>(),
                    d.get().add(at * d_size),
                    len * d_size,
                );
            }
            at += len;
        }
    });
}

/// Shape and both stride sets of a copy, with length-1 dimensions dropped and
/// neighbours that are contiguous in both tensors merged, so a copy runs as
/// few, long inner loops.
pub(crate) struct Dims {
    /// `(size, source stride, destination stride)`, outermost first, in
    /// elements.
    dims: Vec<(usize, isize, isize)>,
    /// How many threads share the outermost dimension.
    threads: usize,
}

/// Copies of at least this many bytes are split across threads: two cores
/// fault in a fresh buffer's pages and move its bytes faster than one.
const PARALLEL_BYTES: usize = 8 << 20;

/// The threads a copy of `bytes` into `dst` may use: one for small copies, and
/// one when two indices of `dst` reach the same element (a broadcast
/// destination), which threads would write at once.
fn threads_for(bytes: usize, dst: &Layout) -> usize {
    if bytes < PARALLEL_BYTES || !dst.has_unique_elements() {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Splits `0..n` into `threads` contiguous chunks and runs `work(lo, hi)` on
/// each, in scoped threads (the calling thread takes the last chunk).
fn in_parallel(threads: usize, n: usize, work: impl Fn(usize, usize) + Sync) {
    if threads <= 1 || n < threads {
        work(0, n);
        return;
    }
    std::thread::scope(|scope| {
        let work = &work;
        for k in 0..threads - 1 {
            let (lo, hi) = (n * k / threads, n * (k + 1) / threads);
            // A thread the OS refuses runs its chunk here instead.
            if std::thread::Builder::new()
                .spawn_scoped(scope, move || work(lo, hi))
                .is_err()
            {
                work(lo, hi);
            }
        }
        work(n * (threads - 1) / threads, n);
    });
}

/// A raw pointer that may cross to the scoped threads of one copy.
#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);

// SAFETY: the threads of a copy write disjoint chunks of the destination and
// only read the source, whose memory outlives the scope that joins them.
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: see `Send`; the pointer itself is only copied.
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    fn get(self) -> *mut T {
        self.0
    }
}

/// Side of the square tiles a transposing copy walks, in elements. Measured on
/// a 4096x4096 float32 transpose (benches/compare.py): 16 and 32 lose to the
/// TLB, 512 to L1; 128 keeps a tile's source lines (128 x 64 bytes) in L1
/// while touching few pages.
const TILE: usize = 128;

impl Dims {
    /// The dims of a copy between two layouts of the same shape.
    fn coalesce(src: &Layout, dst: &Layout) -> Dims {
        let mut dims: Vec<(usize, isize, isize)> = Vec::with_capacity(src.ndim());
        for ((&size, &s), &d) in src.shape().iter().zip(src.strides()).zip(dst.strides()) {
            if size == 1 {
                continue;
            }
            match dims.last_mut() {
                Some(outer) if outer.1 == s * size as isize && outer.2 == d * size as isize => {
                    *outer = (outer.0 * size, s, d);
                }
                _ => dims.push((size, s, d)),
            }
        }
        Dims { dims, threads: 1 }
    }

    /// Runs `convert` from every source element to its destination.
    ///
    /// # Safety
    ///
    /// `s` and `d` point to the first elements of layouts with these dims,
    /// every element of which is valid to read (source) or write
    /// (destination) as `S` and `D`, without overlap. Alignment is not needed.
    #[inline(always)]
    unsafe fn run<S: Copy, D: Copy>(
        &self,
        s: *const S,
        d: *mut D,
        convert: impl Fn(S) -> D + Sync,
    ) {
        let dims = &self.dims[..];
        let Some(&(outer, ss, ds)) = dims.first() else {
            // SAFETY: one element, at the start of each layout.
            return unsafe { d.write_unaligned(convert(s.read_unaligned())) };
        };
        let (s, d) = (SendPtr(s.cast_mut()), SendPtr(d));
        in_parallel(self.threads, outer, |lo, hi| {
            let mut part = dims.to_vec();
            part[0].0 = hi - lo;
            let (lo, s, d) = (lo as isize, s.get(), d.get());
            // SAFETY: rows `lo..hi` of the outermost dimension are elements of
            // the layouts (forwarded from the caller); chunks are disjoint, and
            // `threads_for` gives one thread to destinations whose elements
            // repeat.
            unsafe {
                Self::outer(
                    &part,
                    s.wrapping_offset(lo * ss),
                    d.wrapping_offset(lo * ds),
                    &convert,
                )
            };
        });
    }

    /// Loops over every dimension but the last two, then copies a plane.
    ///
    /// # Safety
    ///
    /// As [`Dims::run`], for `dims` (a part of the run's dims) from `s` and
    /// `d`.
    #[inline(always)]
    unsafe fn outer<S: Copy, D: Copy>(
        dims: &[(usize, isize, isize)],
        s: *const S,
        d: *mut D,
        convert: &impl Fn(S) -> D,
    ) {
        if dims.len() <= 2 {
            // SAFETY: forwarded from the caller.
            return unsafe { Self::plane(dims, s, d, convert) };
        }
        let (size, ss, ds) = dims[0];
        for i in 0..size as isize {
            // SAFETY: element offsets of the validated layouts.
            unsafe {
                Self::outer(
                    &dims[1..],
                    s.wrapping_offset(i * ss),
                    d.wrapping_offset(i * ds),
                    convert,
                )
            };
        }
    }

    /// Copies one or two dimensions; a transposing plane (unit stride on a
    /// different axis in each tensor) goes tile by tile, so that both sides
    /// stay in cache.
    ///
    /// # Safety
    ///
    /// As [`Dims::run`], for the one or two `dims` from `s` and `d`.
    #[inline(always)]
    unsafe fn plane<S: Copy, D: Copy>(
        dims: &[(usize, isize, isize)],
        s: *const S,
        d: *mut D,
        convert: &impl Fn(S) -> D,
    ) {
        let (cols, scs, dcs) = dims[dims.len() - 1];
        let (rows, srs, drs) = if dims.len() == 2 { dims[0] } else { (1, 0, 0) };
        // Copies `c0..c1` of row `r`, walking both pointers by their strides.
        let run = |r: usize, c0: usize, c1: usize| {
            let (r, c0) = (r as isize, c0 as isize);
            let mut sp = s.wrapping_offset(r * srs + c0 * scs);
            let mut dp = d.wrapping_offset(r * drs + c0 * dcs);
            for _ in c0 as usize..c1 {
                // SAFETY: `r < rows` and every column in `c0..c1` is below
                // `cols`, so both pointers address elements of the validated
                // layouts.
                unsafe { dp.write_unaligned(convert(sp.read_unaligned())) };
                sp = sp.wrapping_offset(scs);
                dp = dp.wrapping_offset(dcs);
            }
        };
        let transposing = rows > 1 && (scs != 1 || dcs != 1) && (srs == 1 || drs == 1);
        if !transposing {
            for r in 0..rows {
                run(r, 0, cols);
            }
            return;
        }
        for r0 in (0..rows).step_by(TILE) {
            for c0 in (0..cols).step_by(TILE) {
                let c1 = (c0 + TILE).min(cols);
                for r in r0..(r0 + TILE).min(rows) {
                    run(r, c0, c1);
                }
            }
        }
    }
}

/// A converting copy, monomorphised for every pair of dtypes.
///
/// # Safety
///
/// As [`Dims::run`], with `s` holding `src` elements and `d` `dst` elements.
unsafe fn cast_dispatch(src: DType, dst: DType, dims: &Dims, s: *const u8, d: *mut u8) {
    // Float32 narrows to the half types in one rounding: skip the float64 of
    // a `Scalar`, which the compiler cannot see is exact. (Software float16,
    // as in `crate::round`: F16C one element at a time is slower.)
    match (src, dst) {
        // SAFETY: forwarded from the caller.
        (DType::Float32, DType::Float16) => unsafe {
            return dims.run(s.cast::<f32>(), d.cast(), half::f16::from_f32_const);
        },
        // SAFETY: forwarded from the caller.
        (DType::Float32, DType::BFloat16) => unsafe {
            return dims.run(s.cast::<f32>(), d.cast(), half::bf16::from_f32);
        },
        _ => {}
    }
    dispatch_dtype!(src, S => dispatch_dtype!(dst, D => {
        // SAFETY: forwarded from the caller; `Convert` promises that each
        // `Bits` has its dtype's size and takes any bit pattern.
        unsafe {
            dims.run(
                s.cast::<<S as Convert>::Bits>(),
                d.cast::<<D as Convert>::Bits>(),
                |v| D::from_scalar(S::to_scalar(v)),
            )
        }
    }))
}

#[cfg(test)]
mod tests {
    //! The kernels on plain buffers, against expectations written out by
    //! hand, or computed by `reference_cast`, which implements the cast rules
    //! from their definitions with integer arithmetic and shares no conversion
    //! code with `crate::scalar` or `crate::round`: a kernel that converts
    //! wrongly cannot agree with it by construction. (What `Tensor` adds,
    //! assignment with broadcasting and overlap, is tested in `crate::tensor`.)

    use super::{CHUNK, Destination, PARALLEL_BYTES, Source, copy_cast, threads_for};
    use super::{for_each_offset, for_each_offset_pair};
    use crate::dtype::DType;
    use crate::layout::{IndexItem, Layout};
    use crate::scalar::Scalar;

    fn step(step: isize) -> IndexItem {
        IndexItem::Slice {
            start: None,
            stop: None,
            step: Some(step),
        }
    }

    fn offsets(layout: &Layout) -> Vec<isize> {
        let mut seen = Vec::new();
        for_each_offset(layout, |offset| seen.push(offset));
        seen
    }

    /// Elements of one dtype in memory of their own, with the exact value of
    /// each, known independently of the bytes.
    struct Buffer {
        bytes: Vec<u8>,
        dtype: DType,
        values: Vec<Scalar>,
    }

    impl Buffer {
        /// A buffer of `dtype` holding `values`, which it must represent
        /// exactly (so that writing them is no conversion).
        fn holding(dtype: DType, values: Vec<Scalar>) -> Buffer {
            let mut bytes = vec![0u8; values.len() * dtype.itemsize()];
            for (i, &value) in values.iter().enumerate() {
                // SAFETY: element `i` lies within `bytes`.
                unsafe { value.write(bytes.as_mut_ptr().add(i * dtype.itemsize()), dtype) };
            }
            Buffer {
                bytes,
                dtype,
                values,
            }
        }

        /// A buffer of the native-endian bytes of `elements`, read back as
        /// `values`.
        fn from_bytes<const N: usize>(
            dtype: DType,
            elements: impl IntoIterator<Item = [u8; N]>,
            values: Vec<Scalar>,
        ) -> Buffer {
            let bytes: Vec<u8> = elements.into_iter().flatten().collect();
            assert_eq!(bytes.len(), values.len() * dtype.itemsize());
            Buffer {
                bytes,
                dtype,
                values,
            }
        }

        /// The elements of `view` (a layout within this buffer) copied into a
        /// new buffer of `dtype` whose layout is `into` (a permutation of a
        /// contiguous layout of the same shape), read back in row-major order
        /// of the shape.
        fn cast(&self, view: &Layout, dtype: DType, into: &Layout) -> Vec<Scalar> {
            let itemsize = self.dtype.itemsize();
            assert!(
                self.bytes.len()
                    >= (view.span().map_or(0, |(_, high)| high + 1)) as usize * itemsize
            );
            let mut out = vec![0u8; into.numel() * dtype.itemsize()];
            let src = Source {
                data: self
                    .bytes
                    .as_ptr()
                    .wrapping_add(view.offset() as usize * itemsize),
                layout: view,
                dtype: self.dtype,
            };
            let dst = Destination {
                data: out
                    .as_mut_ptr()
                    .wrapping_add(into.offset() as usize * dtype.itemsize()),
                layout: into,
                dtype,
            };
            // SAFETY: the view's elements lie within `bytes` (asserted above),
            // `into`'s within `out`, two allocations of their own.
            unsafe { copy_cast(src, dst) };
            offsets(into)
                .into_iter()
                // SAFETY: each offset is an element of `into`, within `out`.
                .map(|at| unsafe {
                    Scalar::read(out.as_ptr().add(at as usize * dtype.itemsize()), dtype)
                })
                .collect()
        }

        /// The exact values of `view`'s elements, in row-major order.
        fn values_of(&self, view: &Layout) -> Vec<Scalar> {
            offsets(view)
                .into_iter()
                .map(|at| self.values[at as usize])
                .collect()
        }
    }

    /// Equal values, or floats that are both NaN; zeros compare by sign too.
    fn same(a: &Scalar, b: &Scalar) -> bool {
        let float = |x: f64, y: f64| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
        match (a, b) {
            (Scalar::Float(x), Scalar::Float(y)) => float(*x, *y),
            (Scalar::Complex(xr, xi), Scalar::Complex(yr, yi)) => {
                float(*xr, *yr) && float(*xi, *yi)
            }
            _ => a == b,
        }
    }

    /// A binary floating-point format: significant digits, and the exponents
    /// of its smallest and largest normal binades.
    #[derive(Clone, Copy)]
    struct Format {
        digits: u32,
        min_exp: i32,
        max_exp: i32,
    }

    const FLOAT16: Format = Format {
        digits: 11,
        min_exp: -14,
        max_exp: 15,
    };
    const BFLOAT16: Format = Format {
        digits: 8,
        min_exp: -126,
        max_exp: 127,
    };
    const FLOAT32: Format = Format {
        digits: 24,
        min_exp: -126,
        max_exp: 127,
    };
    const FLOAT64: Format = Format {
        digits: 53,
        min_exp: -1022,
        max_exp: 1023,
    };

    /// The real part of a value, exactly: an integer or a float64.
    #[derive(Clone, Copy)]
    enum Real {
        Int(i128),
        Float(f64),
    }

    fn real_part(value: Scalar) -> Real {
        match value {
            Scalar::Bool(b) => Real::Int(i128::from(b)),
            Scalar::Int(v) => Real::Int(i128::from(v)),
            Scalar::UInt(v) => Real::Int(i128::from(v)),
            Scalar::Float(v) | Scalar::Complex(v, _) => Real::Float(v),
        }
    }

    /// `2^e`, exactly, for any exponent a float64 result can have.
    fn pow2(e: i32) -> f64 {
        2f64.powi(e / 2) * 2f64.powi(e - e / 2)
    }

    /// `value` rounded once to `format`, to nearest with ties to even
    /// (IEEE 754), with overflow to infinity: `negative · magnitude ·
    /// 2^exponent` cut to `format.digits` significant bits by integer shifts.
    fn round_to(value: Real, format: Format) -> f64 {
        let (negative, magnitude, exponent) = match value {
            Real::Float(x) if !x.is_finite() => return x,
            Real::Float(x) => {
                let bits = x.to_bits();
                let (biased, fraction) = ((bits >> 52) & 0x7ff, bits & ((1 << 52) - 1));
                let (magnitude, exponent) = if biased == 0 {
                    (fraction, -1074)
                } else {
                    (fraction | 1 << 52, biased as i32 - 1075)
                };
                (x.is_sign_negative(), u128::from(magnitude), exponent)
            }
            Real::Int(v) => (v < 0, v.unsigned_abs(), 0),
        };
        let sign = if negative { -1.0 } else { 1.0 };
        if magnitude == 0 {
            return sign * 0.0;
        }
        let lead = (127 - magnitude.leading_zeros()) as i32 + exponent;
        // The weight of the last kept digit, subnormals included.
        let quantum = lead.max(format.min_exp) - (format.digits as i32 - 1);
        let (kept, weight) = if exponent >= quantum {
            (magnitude, exponent)
        } else {
            let shift = (quantum - exponent) as u32;
            // `magnitude < 2^65`: past 66 bits everything is below half.
            let kept = if shift > 66 {
                0
            } else {
                let (kept, rest, half) = (
                    magnitude >> shift,
                    magnitude & ((1 << shift) - 1),
                    1u128 << (shift - 1),
                );
                kept + u128::from(rest > half || (rest == half && kept & 1 == 1))
            };
            (kept, quantum)
        };
        // `kept` has at most `digits + 1` bits, so the product is exact.
        let rounded = kept as f64 * pow2(weight);
        if rounded >= pow2(format.max_exp + 1) {
            sign * f64::INFINITY
        } else {
            sign * rounded
        }
    }

    /// `value` cast to `dtype` by the rules of `Scalar::cast_to`, written out
    /// on their own: non-zero is `true`; integers wrap modulo 2^bits; floats
    /// truncate toward zero (saturating at the 64-bit range, NaN to 0) before
    /// they wrap; float dtypes round once from the exact value; a real value
    /// is a complex one with a zero imaginary part, and a complex value
    /// keeps its real part for a real dtype.
    fn reference_cast(value: Scalar, dtype: DType) -> Scalar {
        let imag = match value {
            Scalar::Complex(_, im) => im,
            _ => 0.0,
        };
        let real = real_part(value);
        let float = |format| Scalar::Float(round_to(real, format));
        let complex =
            |format| Scalar::Complex(round_to(real, format), round_to(Real::Float(imag), format));
        let int = |bits: u32, signed: bool| {
            let truncated = match real {
                Real::Int(v) => v,
                Real::Float(x) => (x.trunc() as i128).clamp(i64::MIN.into(), u64::MAX.into()),
            };
            let modulus = 1i128 << bits;
            let mut wrapped = truncated.rem_euclid(modulus);
            if signed && wrapped >= modulus / 2 {
                wrapped -= modulus;
            }
            i64::try_from(wrapped).map_or(Scalar::UInt(wrapped as u64), Scalar::Int)
        };
        match dtype {
            DType::Bool => Scalar::Bool(
                imag != 0.0
                    || match real {
                        Real::Int(v) => v != 0,
                        Real::Float(x) => x != 0.0,
                    },
            ),
            DType::Int8 => int(8, true),
            DType::Int16 => int(16, true),
            DType::Int32 => int(32, true),
            DType::Int64 => int(64, true),
            DType::UInt8 => int(8, false),
            DType::UInt16 => int(16, false),
            DType::UInt32 => int(32, false),
            DType::UInt64 => int(64, false),
            DType::Float16 => float(FLOAT16),
            DType::BFloat16 => float(BFLOAT16),
            DType::Float32 => float(FLOAT32),
            DType::Float64 => float(FLOAT64),
            DType::Complex64 => complex(FLOAT32),
            DType::Complex128 => complex(FLOAT64),
        }
    }

    #[test]
    fn the_reference_rounds_as_spelled_out() {
        // Checks of the checker, on cases worked by hand.
        let p2 = |e: i32| 2f64.powi(e);
        let f = |v: f64| Real::Float(v);
        // A tie goes to even; a hair above it goes up.
        assert_eq!(round_to(f(1.0 + p2(-11)), FLOAT16), 1.0);
        assert_eq!(round_to(f(1.0 + p2(-11) + p2(-40)), FLOAT16), 1.0 + p2(-10));
        assert_eq!(round_to(f(1.0 + 3.0 * p2(-11)), FLOAT16), 1.0 + p2(-9));
        // 2^60 + 2^36 + 1 is nearer 2^60 + 2^37 in float32 (one rounding).
        assert_eq!(
            round_to(Real::Int((1 << 60) + (1 << 36) + 1), FLOAT32),
            p2(60) + p2(37)
        );
        // float16: 65504 is the largest finite value, 65520 rounds past it.
        assert_eq!(round_to(Real::Int(65519), FLOAT16), 65504.0);
        assert_eq!(round_to(Real::Int(65520), FLOAT16), f64::INFINITY);
        // Subnormals: half the smallest float16 is a tie to zero.
        assert_eq!(round_to(f(p2(-25)), FLOAT16), 0.0);
        assert_eq!(round_to(f(p2(-25) + p2(-70)), FLOAT16), p2(-24));
        assert_eq!(round_to(f(-1e-300), FLOAT32).to_bits(), (-0.0f64).to_bits());
        assert_eq!(round_to(f(300.7), BFLOAT16), 300.0);
        assert_eq!(
            reference_cast(Scalar::Float(300.7), DType::UInt8),
            Scalar::Int(44)
        );
        assert_eq!(
            reference_cast(Scalar::Float(-1.9), DType::UInt16),
            Scalar::Int(65535)
        );
        assert_eq!(
            reference_cast(Scalar::Float(1e30), DType::Int8),
            Scalar::Int(-1)
        );
        assert_eq!(
            reference_cast(Scalar::Float(f64::NAN), DType::Int32),
            Scalar::Int(0)
        );
        assert_eq!(
            reference_cast(Scalar::Int(-1), DType::UInt64),
            Scalar::UInt(u64::MAX)
        );
        assert_eq!(
            reference_cast(Scalar::Complex(0.0, 2.0), DType::Bool),
            Scalar::Bool(true)
        );
    }

    #[test]
    fn offsets_walk_any_layout_in_row_major_order() {
        let base = Layout::contiguous(&[2, 3]).unwrap();
        let transposed = base.permute(&[1, 0]).unwrap();
        assert_eq!(offsets(&transposed), [0, 3, 1, 4, 2, 5]);
        let reversed = base.index(&[step(-1), step(-2)]).unwrap();
        assert_eq!(offsets(&reversed), [5, 3, 2, 0]);
        let mut pairs = Vec::new();
        for_each_offset_pair(
            &transposed,
            &Layout::contiguous(&[3, 2]).unwrap(),
            |a, b| pairs.push((a, b)),
        );
        assert_eq!(pairs, [(0, 0), (3, 1), (1, 2), (4, 3), (2, 4), (5, 5)]);
        assert_eq!(offsets(&Layout::contiguous(&[]).unwrap()), [0]);
        assert!(offsets(&Layout::contiguous(&[0, 3]).unwrap()).is_empty());
    }

    #[test]
    fn copies_of_transposed_and_reversed_views_are_row_major() {
        let values: Vec<Scalar> = (0..6).map(Scalar::Int).collect();
        let buffer = Buffer::holding(DType::Int64, values);
        let base = Layout::contiguous(&[2, 3]).unwrap();
        let transposed = base.permute(&[1, 0]).unwrap();
        let into = Layout::contiguous(&[3, 2]).unwrap();
        let ints = |v: &[i64]| v.iter().map(|&v| Scalar::Int(v)).collect::<Vec<_>>();
        assert_eq!(
            buffer.cast(&transposed, DType::Int64, &into),
            ints(&[0, 3, 1, 4, 2, 5])
        );
        let reversed = base.index(&[step(-1), step(-2)]).unwrap();
        let into = Layout::contiguous(&[2, 2]).unwrap();
        assert_eq!(
            buffer.cast(&reversed, DType::Int64, &into),
            ints(&[5, 3, 2, 0])
        );
        // Into a transposed destination: element (i, j) lands at j * 2 + i.
        let into_transposed = Layout::contiguous(&[2, 2])
            .unwrap()
            .permute(&[1, 0])
            .unwrap();
        assert_eq!(
            buffer.cast(&reversed, DType::Float32, &into_transposed),
            [5.0, 3.0, 2.0, 0.0].map(Scalar::Float).to_vec()
        );
    }

    #[test]
    fn every_dtype_pair_casts_as_the_reference_does() {
        let reals = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            2.5,
            -2.5,
            127.0,
            300.7,
            -129.9,
            65535.0,
            1e10,
            0.5,
            7.0,
            1e-30,
            1e300,
            2f64.powi(63),
            -2f64.powi(63) - 4096.0,
            f64::NAN,
            f64::INFINITY,
            -f64::INFINITY,
        ];
        let mut values: Vec<Scalar> = reals.iter().map(|&v| Scalar::Complex(v, -v)).collect();
        values.extend([
            Scalar::Int(i64::MIN),
            Scalar::UInt(u64::MAX),
            Scalar::Int((1 << 60) + (1 << 36) + 1),
            Scalar::Int(-(1 << 60) - (1 << 52) - 1),
            Scalar::Bool(true),
        ]);
        let base = Layout::contiguous(&[5, 5]).unwrap();
        // Contiguous (the memcpy and half-slice paths), transposed and
        // reversed (the strided kernels), a column (strided, one dimension).
        let views = [
            base.clone(),
            base.permute(&[1, 0]).unwrap().index(&[step(-1)]).unwrap(),
            base.index(&[IndexItem::Ellipsis, IndexItem::Int(1)])
                .unwrap(),
        ];
        for src_type in DType::ALL {
            let exact = values
                .iter()
                .map(|&v| reference_cast(v, src_type))
                .collect();
            let source = Buffer::holding(src_type, exact);
            for view in &views {
                let contiguous = Layout::contiguous(view.shape()).unwrap();
                let transposed = contiguous
                    .permute(&(0..view.ndim()).rev().collect::<Vec<_>>())
                    .unwrap();
                for dst_type in DType::ALL {
                    for into in [&contiguous, &transposed] {
                        let got = source.cast(view, dst_type, into);
                        for (g, v) in got.iter().zip(source.values_of(view)) {
                            let want = reference_cast(v, dst_type);
                            assert!(
                                same(g, &want),
                                "{src_type} {v:?} -> {dst_type}: got {g:?}, expected {want:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// Values that test rounding: random bit patterns, and ties and
    /// near-ties of float32, float16 and bfloat16 (a half-ulp bit set, the
    /// bits below clear, then one added or taken).
    fn rounding_cases(n: usize) -> (Vec<f64>, Vec<i64>) {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut floats = vec![1.0 + 2f64.powi(-11) + 2f64.powi(-40), 8.057544676790317e22];
        let mut ints = vec![(1 << 60) + (1 << 36) + 1, (1 << 60) + (1 << 52) + 1];
        while floats.len() < n {
            let (r, pick) = (next(), next());
            // The half-ulp bit of float32, float16 and bfloat16 in a float64
            // mantissa, and in a 64-bit integer of width `width`.
            let half_ulp = [28, 41, 44][(pick % 3) as usize];
            let nudge = [0i64, 1, -1][(pick / 3 % 3) as usize];
            let mut bits = r;
            if pick & (1 << 20) != 0 {
                // An exponent near 1.0, where float16 is normal.
                bits = (bits & !(0x7FF << 52)) | ((1023 - 20 + (pick >> 32) % 40) << 52);
            }
            if pick & (1 << 21) != 0 {
                bits = (bits & !((2 << half_ulp) - 1)) | (1 << half_ulp);
                bits = bits.wrapping_add_signed(nudge);
            }
            floats.push(f64::from_bits(bits));
            let width = 25 + (pick >> 40) % 39;
            let mut int = r >> (64 - width);
            let int_half_ulp =
                [width - 25, width.saturating_sub(12), width - 9][(pick % 3) as usize];
            if pick & (1 << 21) != 0 {
                int = (int & !((2 << int_half_ulp) - 1)) | (1 << int_half_ulp);
                int = int.wrapping_add_signed(nudge);
            }
            ints.push(if pick & (1 << 22) != 0 {
                int as i64
            } else {
                (int as i64).wrapping_neg()
            });
        }
        (floats, ints)
    }

    #[test]
    fn contiguous_and_strided_casts_round_once() {
        // More than two chunks of the stack-buffered half conversions, so
        // that chunk boundaries are crossed.
        let n = 2 * CHUNK + 37;
        let (floats, ints) = rounding_cases(n);
        let halves: Vec<u16> = ints.iter().map(|&v| v as u16).collect();
        let sources = [
            Buffer::from_bytes(
                DType::Float64,
                floats.iter().map(|v| v.to_ne_bytes()),
                floats.iter().map(|&v| Scalar::Float(v)).collect(),
            ),
            Buffer::from_bytes(
                DType::Float32,
                floats.iter().map(|&v| (v as f32).to_ne_bytes()),
                floats
                    .iter()
                    .map(|&v| Scalar::Float(f64::from(v as f32)))
                    .collect(),
            ),
            Buffer::from_bytes(
                DType::Int64,
                ints.iter().map(|v| v.to_ne_bytes()),
                ints.iter().map(|&v| Scalar::Int(v)).collect(),
            ),
            Buffer::from_bytes(
                DType::UInt64,
                ints.iter().map(|&v| (v as u64).to_ne_bytes()),
                ints.iter().map(|&v| Scalar::UInt(v as u64)).collect(),
            ),
            Buffer::from_bytes(
                DType::Float16,
                halves.iter().map(|v| v.to_ne_bytes()),
                halves
                    .iter()
                    .map(|&v| Scalar::Float(half::f16::from_bits(v).to_f64()))
                    .collect(),
            ),
            Buffer::from_bytes(
                DType::BFloat16,
                halves.iter().map(|v| v.to_ne_bytes()),
                halves
                    .iter()
                    .map(|&v| Scalar::Float(half::bf16::from_bits(v).to_f64()))
                    .collect(),
            ),
            Buffer::from_bytes(
                DType::Complex128,
                floats.iter().zip(floats.iter().rev()).map(|(re, im)| {
                    let mut bytes = [0u8; 16];
                    bytes[..8].copy_from_slice(&re.to_ne_bytes());
                    bytes[8..].copy_from_slice(&im.to_ne_bytes());
                    bytes
                }),
                floats
                    .iter()
                    .zip(floats.iter().rev())
                    .map(|(&re, &im)| Scalar::Complex(re, im))
                    .collect(),
            ),
        ];
        let base = Layout::contiguous(&[n]).unwrap();
        // Reversed, for the strided kernels; from the second element, for
        // the contiguous ones at an offset (and a tail of another length).
        let shifted = base
            .index(&[IndexItem::Slice {
                start: Some(1),
                stop: None,
                step: None,
            }])
            .unwrap();
        let views = [base.clone(), base.index(&[step(-1)]).unwrap(), shifted];
        for source in &sources {
            for view in &views {
                let into = Layout::contiguous(view.shape()).unwrap();
                for dst_type in DType::ALL {
                    let got = source.cast(view, dst_type, &into);
                    for (g, v) in got.iter().zip(source.values_of(view)) {
                        let want = reference_cast(v, dst_type);
                        assert!(
                            same(g, &want),
                            "{} -> {dst_type}: {v:?} gave {g:?}, expected {want:?}",
                            source.dtype
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn float16_fallback_and_f16c_kernels_agree_with_single_conversions() {
        use half::f16;
        use half::slice::HalfFloatSliceExt;
        // Every float16 bit pattern, and float32 ties and near-ties of it.
        let halves: Vec<u16> = (0..=u16::MAX).collect();
        let singles: Vec<f32> = rounding_cases(1 << 16)
            .0
            .iter()
            .map(|&v| crate::round::f64_to_f32_odd(v))
            .collect();
        let n = singles.len();
        let (mut chunked, mut widened) = (vec![f16::ZERO; n], vec![0f32; 1 << 16]);
        // SAFETY: the vectors hold `n` and 2^16 elements and do not overlap.
        unsafe {
            super::convert_in_chunks(
                singles.as_ptr().cast(),
                chunked.as_mut_ptr().cast(),
                n,
                2,
                |i: &[f32], o: &mut [f16]| o.convert_from_f32_slice(i),
            );
            super::convert_in_chunks(
                halves.as_ptr().cast(),
                widened.as_mut_ptr().cast(),
                1 << 16,
                1,
                |i: &[f16], o: &mut [f32]| i.convert_to_f32_slice(o),
            );
        }
        for (i, &v) in singles.iter().enumerate() {
            let one = f16::from_f32_const(v);
            assert!(chunked[i].to_bits() == one.to_bits() || (one.is_nan() && chunked[i].is_nan()));
        }
        for (&h, &w) in halves.iter().zip(&widened) {
            let one = f16::from_bits(h).to_f32_const();
            assert!(one.to_bits() == w.to_bits() || (one.is_nan() && w.is_nan()));
        }
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        if super::f16c::available() {
            let (mut direct, mut back) = (vec![0u16; n], vec![0f32; 1 << 16]);
            // SAFETY: F16C is available; sizes as above.
            unsafe {
                super::f16c::from_f32(singles.as_ptr(), direct.as_mut_ptr(), n);
                super::f16c::to_f32(halves.as_ptr(), back.as_mut_ptr(), 1 << 16);
            }
            // Against `half`'s software conversions, one element at a time.
            for (&bits, &v) in direct.iter().zip(&singles) {
                let (got, want) = (f16::from_bits(bits), f16::from_f32_const(v));
                assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()));
            }
            for (&b, &h) in back.iter().zip(&halves) {
                let want = f16::from_bits(h).to_f32_const();
                assert!(b.to_bits() == want.to_bits() || (b.is_nan() && want.is_nan()));
            }
        }
    }

    #[test]
    fn blocked_transpose_copies_large_planes_exactly() {
        let n = 100usize;
        let values: Vec<Scalar> = (0..(n * n) as i64).map(Scalar::Int).collect();
        let buffer = Buffer::holding(DType::Int64, values);
        let transposed = Layout::contiguous(&[n, n])
            .unwrap()
            .permute(&[1, 0])
            .unwrap();
        let copy = buffer.cast(
            &transposed,
            DType::Int64,
            &Layout::contiguous(&[n, n]).unwrap(),
        );
        for r in 0..n {
            for c in 0..n {
                assert_eq!(copy[r * n + c], Scalar::Int((c * n + r) as i64));
            }
        }
    }

    #[test]
    fn copies_split_across_threads_are_exact() {
        // 2048 x 1536 float32 is 12 MiB, over the parallel threshold.
        let (rows, cols) = (2048usize, 1536usize);
        let values: Vec<f32> = (0..rows * cols).map(|v| v as f32).collect();
        let buffer = Buffer::from_bytes(
            DType::Float32,
            values.iter().map(|v| v.to_ne_bytes()),
            values
                .iter()
                .map(|&v| Scalar::Float(f64::from(v)))
                .collect(),
        );
        let base = Layout::contiguous(&[rows, cols]).unwrap();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(threads_for(rows * cols * 4, &base), cores.min(4));
        assert_eq!(threads_for(PARALLEL_BYTES - 1, &base), 1);
        let transposed = base.permute(&[1, 0]).unwrap();
        let into = Layout::contiguous(&[cols, rows]).unwrap();
        let t = buffer.cast(&transposed, DType::Float32, &into);
        let plain = buffer.cast(&base, DType::Float32, &base);
        let widened = buffer.cast(&base, DType::Float64, &base);
        for (r, c) in [(0, 0), (1, 7), (1535, 2047), (800, 1024), (1535, 0)] {
            assert_eq!(t[r * rows + c], Scalar::Float((c * cols + r) as f64));
        }
        for i in [0, 1, rows * cols / 2, rows * cols - 1] {
            assert_eq!(plain[i], Scalar::Float(i as f64));
            assert_eq!(widened[i], Scalar::Float(i as f64));
        }
        let broadcast = Layout::contiguous(&[1])
            .unwrap()
            .broadcast_to(&[rows * cols])
            .unwrap();
        assert_eq!(threads_for(1 << 30, &broadcast), 1);
    }
}
