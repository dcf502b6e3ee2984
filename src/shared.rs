//! Shared-memory segments: the memory of a tensor that other processes map
//! too (`share_memory_()`, as torch's `file_descriptor` sharing strategy).
//!
//! A segment is an anonymous memory file (Linux `memfd_create`), never a
//! name in `/dev/shm`: it is reached only through its file descriptor, which
//! is handed to another process (Python's `multiprocessing` passes it over a
//! Unix socket), and the kernel frees it when the last descriptor and the last
//! mapping of it are gone, in whichever process that is. Nothing can leak in
//! the file system, and no process has to unlink it.
//!
//! A segment made here is sealed against shrinking and growing
//! (`F_SEAL_SHRINK | F_SEAL_GROW`), so that no process can truncate it under
//! another's mapping (an access past the end of a mapped file is a `SIGBUS`);
//! a descriptor received from elsewhere is mapped only if it carries that
//! seal and is at least as long as the tensor needs.
//!
//! While a segment is mapped, its bytes are registered in the process-wide
//! borrow registry as a segment (`crate::borrow`): no Rust reference into
//! them is granted, by any copy of dlbridge, whichever object (a NumPy array,
//! a torch tensor) they reach Rust through, since another process may write
//! them at any time.

use crate::borrow::Borrow;
use crate::error::{Error, Result};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

/// A mapped shared-memory segment: the descriptor and a read-write shared
/// mapping of its whole length, unmapped and closed when dropped.
#[derive(Debug)]
pub(crate) struct SharedSegment {
    fd: OwnedFd,
    ptr: NonNull<u8>,
    len: usize,
    /// The mapping's registration as a segment; released before the
    /// mapping goes, so that memory mapped later at the same address is
    /// never mistaken for it.
    registered: Option<Borrow>,
}

// SAFETY: the segment is a mapping and a descriptor, both usable from any
// thread; it never reads or writes the bytes itself (tensors do, under the
// crate's borrow model), and its release (`munmap`, `close`) runs once, from
// whichever thread drops it.
unsafe impl Send for SharedSegment {}
// SAFETY: see `Send`; `&SharedSegment` gives only the address, length and a
// borrowed descriptor.
unsafe impl Sync for SharedSegment {}

fn os_error(operation: &'static str) -> Error {
    Error::SharedMemory {
        operation,
        reason: std::io::Error::last_os_error().to_string(),
    }
}

impl SharedSegment {
    /// A fresh, zero-filled segment of `len` bytes (at least one), sealed
    /// against resizing.
    #[cfg(target_os = "linux")]
    pub(crate) fn create(len: usize) -> Result<SharedSegment> {
        let len = len.max(1);
        let size = libc::off_t::try_from(len).map_err(|_| Error::SharedMemory {
            operation: "ftruncate",
            reason: format!("{len} bytes is too large a segment"),
        })?;
        // The system call itself, not glibc's wrapper: the wrapper needs
        // glibc 2.27, and the wheels target manylinux2014 (glibc 2.17); the
        // kernel has had memfd_create since 3.17.
        // SAFETY: the name is a NUL-terminated string; the flags are valid.
        let raw = unsafe {
            libc::syscall(
                libc::SYS_memfd_create,
                c"dlbridge".as_ptr(),
                libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
            )
        };
        let raw = match std::os::fd::RawFd::try_from(raw) {
            Ok(raw) if raw >= 0 => raw,
            _ => return Err(os_error("memfd_create")),
        };
        // SAFETY: `raw` is a descriptor just opened here and owned by no one else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: `fd` is an open memory file; a new one is empty, and
        // growing it zero-fills.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), size) } != 0 {
            return Err(os_error("ftruncate"));
        }
        let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        // SAFETY: `fd` is an open memory file created with sealing allowed.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
            return Err(os_error("fcntl(F_ADD_SEALS)"));
        }
        SharedSegment::map_whole(fd, len)
    }

    /// Maps a segment another process made (a descriptor it handed over),
    /// checked to be a sealed memory file of at least `needed` bytes.
    #[cfg(target_os = "linux")]
    pub(crate) fn adopt(fd: OwnedFd, needed: usize) -> Result<SharedSegment> {
        let refuse = |reason: String| Error::SharedMemory {
            operation: "map a received segment",
            reason,
        };
        // SAFETY: `fd` is an open descriptor; F_GET_SEALS only reads its seals
        // (and fails on anything that is not a memory file).
        let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
        if seals < 0 || seals & libc::F_SEAL_SHRINK == 0 {
            return Err(refuse(
                "the descriptor is not a memory file sealed against shrinking".into(),
            ));
        }
        // SAFETY: an all-zero `stat` is a valid value for fstat to overwrite.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is open and `stat` is writable.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut stat) } != 0 {
            return Err(os_error("fstat"));
        }
        let len = usize::try_from(stat.st_size).unwrap_or(0);
        if len == 0 || len < needed {
            return Err(refuse(format!(
                "the segment holds {len} bytes, the tensor needs {needed}"
            )));
        }
        SharedSegment::map_whole(fd, len)
    }

    #[cfg(target_os = "linux")]
    fn map_whole(fd: OwnedFd, len: usize) -> Result<SharedSegment> {
        // SAFETY: a new shared read-write mapping of `len` bytes of an open
        // memory file at least that long (sized above, or checked by
        // `adopt`); the kernel picks the address.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(os_error("mmap"));
        }
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| os_error("mmap"))?;
        let mut segment = SharedSegment {
            fd,
            ptr,
            len,
            registered: None,
        };
        // Dropping the unregistered segment on failure unmaps it.
        segment.registered = Some(Borrow::register_segment(ptr.as_ptr() as usize, len)?);
        Ok(segment)
    }

    /// Shared memory is only made on Linux for now.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn create(_len: usize) -> Result<SharedSegment> {
        Err(Error::SharedMemory {
            operation: "share_memory_",
            reason: "shared memory is supported on Linux only".into(),
        })
    }

    /// Shared memory is only mapped on Linux for now.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn adopt(_fd: OwnedFd, _needed: usize) -> Result<SharedSegment> {
        SharedSegment::create(0)
    }

    /// The first byte of the mapping (page-aligned).
    pub(crate) fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// The length of the mapping in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The segment's descriptor, to hand to another process.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for SharedSegment {
    fn drop(&mut self) {
        drop(self.registered.take());
        // SAFETY: `ptr` and `len` are the mapping made in `map_whole`,
        // unmapped once, here (the descriptor closes as `fd` drops).
        #[cfg(target_os = "linux")]
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_segment_is_zeroed_shared_and_sealed() {
        let segment = SharedSegment::create(10).unwrap();
        assert_eq!(segment.len(), 10);
        // SAFETY: the mapping holds 10 bytes, read and written by this test alone.
        unsafe {
            assert_eq!(segment.ptr().as_ptr().read(), 0);
            segment.ptr().as_ptr().write(7);
        }
        // A second mapping of the same descriptor sees the write.
        let again = SharedSegment::adopt(segment.fd().try_clone_to_owned().unwrap(), 10).unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { again.ptr().as_ptr().read() }, 7);
        // SAFETY: the descriptor is open; ftruncate only tries to shrink it.
        assert_ne!(unsafe { libc::ftruncate(segment.fd().as_raw_fd(), 1) }, 0);
    }

    #[test]
    fn received_descriptors_are_checked() {
        let segment = SharedSegment::create(8).unwrap();
        let fd = segment.fd().try_clone_to_owned().unwrap();
        assert!(matches!(
            SharedSegment::adopt(fd, 9),
            Err(Error::SharedMemory { .. })
        ));
        // A plain file descriptor (not a sealed memory file) is refused.
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        assert!(SharedSegment::adopt(OwnedFd::from(file), 1).is_err());
    }
}
