//! Tensors in shared memory: moving a tensor's memory there (torch's
//! `share_memory_`), the handle another process needs to map it, and a
//! tensor rebuilt from such a handle.
//!
//! The handle is a segment's file descriptor plus the tensor's description
//! (first element's offset in the segment, shape, strides, dtype); Python's
//! `multiprocessing` carries the descriptor across (see
//! `python/dlbridge/_multiprocessing.py`). A received handle is untrusted:
//! the descriptor must be a sealed memory file, and every byte the
//! description reaches must lie inside it.

use crate::borrow::Participation;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::foreign::{self, ForeignMemory, Strides};
use crate::shared::SharedSegment;
use crate::storage::{Extent, Storage};
use crate::tensor::Tensor;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::Arc;

/// What another process needs to map a shared tensor's memory.
#[derive(Debug)]
#[cfg_attr(not(feature = "python"), allow(dead_code))]
pub(crate) struct SharedHandle<'a> {
    /// The segment's descriptor (to duplicate into the other process).
    pub fd: BorrowedFd<'a>,
    /// Bytes from the segment's start to the tensor's first element.
    pub offset: usize,
}

impl Tensor {
    /// Moves this tensor's memory into shared memory, in place, as torch's
    /// `share_memory_()` does: the tensor, and every view of the same
    /// memory, reads and writes the shared copy from then on, and a handle
    /// to it can go to another process (Python's `multiprocessing` sends a
    /// file descriptor, not the bytes), where both see each other's writes.
    /// A no-op for memory already shared.
    ///
    /// The segment is an anonymous memory file (Linux `memfd_create`), freed
    /// by the kernel with its last mapping in any process: nothing to unlink,
    /// nothing left in `/dev/shm`. Aliases exported before the move (a NumPy
    /// view, a DLPack capsule) keep the old memory, which stays valid, and
    /// allocated, until the tensor's storage is released, but no longer see
    /// the tensor's writes. Fails with [`Error::AlreadyBorrowed`] while a Rust borrow of
    /// the memory is alive, and with [`Error::SharedMemory`] where the system
    /// refuses (or on platforms other than Linux).
    ///
    /// Other processes may write the segment at any time, so from then on no
    /// safe Rust reference into it is given ([`Error::SharedAcrossProcesses`]):
    /// values are copied out ([`Tensor::deep_copy`], [`Tensor::to_scalars`])
    /// and in ([`Tensor::assign`]), and `as_slice_unchecked` is the
    /// `unsafe` way for a caller who synchronises with those processes.
    ///
    /// ```
    /// use dlbridge::{Error, Tensor};
    ///
    /// let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3])?;
    /// let view = t.transpose_all();
    /// match t.share_memory() {
    ///     Ok(()) => {
    ///         assert!(t.is_shared() && view.is_shared()); // views follow
    ///         assert_eq!(t.as_slice::<f32>().unwrap_err(), Error::SharedAcrossProcesses);
    ///         assert_eq!(&*t.deep_copy()?.as_slice::<f32>()?, &[1.0, 2.0, 3.0]);
    ///     }
    ///     Err(Error::SharedMemory { .. }) => {} // not on this platform
    ///     Err(other) => return Err(other),
    /// }
    /// # Ok::<(), Error>(())
    /// ```
    pub fn share_memory(&self) -> Result<()> {
        if self.is_shared() {
            return Ok(());
        }
        // One move at a time: a thread that finds another moving the same
        // storage waits for it and then finds it shared, as with torch's
        // `share_memory_`, instead of meeting the mover's borrow. (A lock for
        // every storage would serve only this rare call; waiting on the move
        // of another storage costs one copy's time.)
        static MOVING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _moving = MOVING
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.is_shared() {
            return Ok(());
        }
        // Registered, not only checked: no Rust code may start reading or
        // writing the bytes while they are copied. Every borrow re-reads its
        // range once held (`Tensor::hold`), so none can be left on the old
        // bytes while its pointers go to the new ones.
        let storage = self.storage();
        let range = storage.byte_range();
        let _borrow = Participation::Register.hold(range, true)?;
        if storage.byte_range() != range {
            return Ok(()); // another thread moved it meanwhile
        }
        // SAFETY: the exclusive borrow keeps every Rust reader and writer out
        // while the bytes are copied (Python writers are ordered by the GIL,
        // which the caller from Python holds or hands back only for the copy,
        // as for every other copy).
        unsafe { storage.move_to_shared() }
    }

    /// Whether this tensor's memory is in shared memory ([`Tensor::share_memory`],
    /// or received from another process).
    ///
    /// ```
    /// let t = dlbridge::Tensor::from_vec(vec![0u8; 4], &[4])?;
    /// assert!(!t.is_shared());
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn is_shared(&self) -> bool {
        self.storage().segment().is_some()
    }

    /// The handle to this tensor's shared memory, `None` when it is not
    /// shared.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    pub(crate) fn shared_handle(&self) -> Option<SharedHandle<'_>> {
        let segment = self.storage().segment()?;
        let offset = (self.data_ptr() as usize).wrapping_sub(segment.ptr().as_ptr() as usize);
        Some(SharedHandle {
            fd: segment.fd(),
            offset,
        })
    }

    /// The tensor another process described: `shape`, element `strides`
    /// and `dtype`, with its first element `offset` bytes into the segment
    /// behind `fd` (which the tensor now owns). Refused with
    /// [`Error::SharedMemory`] when `fd` is not a sealed memory file or the
    /// description reaches past it, and as any foreign memory is when the
    /// description itself is invalid.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    pub(crate) fn from_shared_handle(
        fd: OwnedFd,
        offset: u64,
        shape: Vec<usize>,
        strides: Vec<isize>,
        dtype: DType,
        readonly: bool,
    ) -> Result<Tensor> {
        let segment = SharedSegment::adopt(fd, 1)?;
        let start = segment.ptr().as_ptr() as usize;
        let validated = foreign::validate(ForeignMemory {
            origin: "shared-memory tensor",
            data: start,
            byte_offset: offset,
            shape: &shape,
            strides: Strides::Elements(&strides),
            dtype,
        })?;
        let extent = Extent::of_layout(&validated.layout, dtype.itemsize());
        let lowest = (validated.base.as_ptr() as usize).checked_add_signed(extent.start);
        let inside = extent.len == 0
            || lowest.is_some_and(|low| {
                low >= start
                    && low - start <= segment.len()
                    && extent.len <= segment.len() - (low - start)
            });
        if !inside {
            return Err(Error::SharedMemory {
                operation: "map a received segment",
                reason: format!(
                    "the tensor reaches past the segment's {} bytes",
                    segment.len()
                ),
            });
        }
        // SAFETY: every byte the layout reaches (the extent around the
        // validated base) was just checked to lie in the segment's mapping,
        // which the storage keeps.
        let storage = unsafe { Storage::in_segment(validated.base, extent, segment) };
        // `foreign::validate` made the same checks, in the import's words.
        Tensor::from_parts(Arc::new(storage), validated.layout, dtype, readonly)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_live_borrow_blocks_the_move() {
        let t = Tensor::from_vec(vec![1u32, 2, 3], &[3]).unwrap();
        let reading = t.as_slice::<u32>().unwrap();
        assert!(matches!(
            t.share_memory(),
            Err(Error::AlreadyBorrowed { .. })
        ));
        assert!(!t.is_shared());
        drop(reading);
        t.share_memory().unwrap();
        assert!(t.is_shared());
        // Other processes may map the segment: no safe reference into it,
        // only copies out (and in).
        assert_eq!(
            t.as_slice::<u32>().unwrap_err(),
            Error::SharedAcrossProcesses
        );
        assert_eq!(
            &*t.deep_copy().unwrap().as_slice::<u32>().unwrap(),
            &[1, 2, 3]
        );
    }

    #[test]
    fn a_handle_maps_the_same_memory_again() {
        let t = Tensor::from_vec((0..6).map(f64::from).collect(), &[2, 3]).unwrap();
        let view = t.transpose_all();
        view.share_memory().unwrap();
        let handle = view.shared_handle().unwrap();
        let fd = handle.fd.try_clone_to_owned().unwrap();
        let again = Tensor::from_shared_handle(
            fd,
            handle.offset as u64,
            view.shape().to_vec(),
            view.strides().to_vec(),
            DType::Float64,
            false,
        )
        .unwrap();
        assert_eq!(again.to_scalars().unwrap(), view.to_scalars().unwrap());
        assert_ne!(again.data_ptr(), view.data_ptr()); // a second mapping
        assert!(again.is_shared());
        // A write through one mapping is read through the other.
        // SAFETY: no other process maps the segment, and no other reference
        // to it lives while this one does.
        unsafe { t.as_slice_mut_unchecked::<f64>() }.unwrap()[4] = -1.0;
        assert_eq!(again.to_scalars().unwrap(), view.to_scalars().unwrap());
    }
}
