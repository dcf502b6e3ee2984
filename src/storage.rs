//! Who owns the bytes: an allocation made here, a Rust value handed over by the
//! caller (a `Vec`, or any owner of a slice), or a DLPack managed tensor
//! imported from another framework.
//!
//! A [`Storage`] is shared by every tensor and view cut from it (through an
//! `Arc`), and by every DLPack capsule exported from them. When the last of
//! those goes, the storage is released exactly once: an imported tensor's
//! DLPack deleter runs then, never earlier and never twice.
//!
//! A storage never reads or writes its elements itself: that happens through
//! raw pointers in the copy kernels and through the typed guards of
//! `access.rs`. Who may hold a reference is decided by the storage's reach
//! (`reachable`, set one way when Python or a DLPack consumer can first reach
//! the bytes, and the segment it may have moved to) and by the one borrow
//! registry of the process ([`crate::borrow`]). Operations started from
//! Python only check that registry, so like NumPy's they can race with
//! another Python thread writing the same memory without the GIL (a data
//! race: undefined behaviour, which neither NumPy nor dlbridge can rule out
//! for writers it does not know of); the storage's ownership (the `Arc`, the
//! one release) is never raced.

use crate::error::Result;
use crate::layout::Layout;
use crate::shared::SharedSegment;
use dlpark::AllocationDeleter;
use std::alloc::{self, Layout as AllocLayout};
use std::any::{Any, TypeId};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// Alignment of the first byte of every buffer dlbridge allocates: 64 bytes,
/// a cache line, what PyTorch's CPU allocator gives and what XLA (JAX) needs
/// to share a buffer instead of copying it.
const ALIGNMENT: usize = 64;

/// Alignment asked of the system allocator. Up to 16 bytes Rust's system
/// allocator calls plain `malloc`/`calloc`; larger alignments go through
/// `posix_memalign` (plus an explicit memset for zeroed memory). So buffers
/// are over-allocated by `ALIGNMENT` bytes at this alignment and the first
/// 64-byte boundary inside is used.
const ALLOCATOR_ALIGNMENT: usize = 16;

/// A block of memory shared by tensors.
pub(crate) struct Storage {
    base: NonNull<u8>,
    /// Every byte a tensor on this storage may reach, relative to `base`.
    extent: Extent,
    owner: Owner,
    /// Where the bytes are once [`Storage::move_to_shared`] has moved them.
    /// The original memory stays with `owner` until the storage is dropped:
    /// an alias exported before the move (a NumPy view, a DLPack capsule, a
    /// `memoryview`) still points there, and must stay valid.
    /// Boxed, like the segment owner below: both are rare (multiprocessing),
    /// and every storage made moves and zeroes their room otherwise.
    relocated: OnceLock<Box<Relocated>>,
    /// Whether a party other than Rust code holding tensor handles can reach
    /// the bytes: Python (a `dlbridge.Tensor`, a NumPy array, a buffer), or a
    /// DLPack consumer. One-way: once set it stays set, since no one can tell
    /// when the last foreign alias lets go. See [`Storage::expose`].
    reachable: AtomicBool,
}

/// The bytes a storage's tensors may reach, relative to its base address:
/// `len` bytes from `start` (negative when a tensor with negative strides
/// reaches below its first element).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Extent {
    pub(crate) start: isize,
    pub(crate) len: usize,
}

impl Extent {
    /// The bytes reached by `layout`'s elements of `itemsize` bytes, whose
    /// offsets count from the base (none for an empty layout).
    pub(crate) fn of_layout(layout: &Layout, itemsize: usize) -> Extent {
        match layout.span() {
            None => Extent { start: 0, len: 0 },
            Some((low, high)) => Extent {
                start: low * itemsize as isize,
                len: (high - low) as usize * itemsize + itemsize,
            },
        }
    }
}

/// A storage's bytes after a move into shared memory.
struct Relocated {
    /// The new base: the segment's start, minus the extent's `start`.
    base: NonNull<u8>,
    segment: SharedSegment,
}

enum Owner {
    /// Allocated here at `start` with `layout`; freed with the same.
    Allocated {
        /// What the allocator returned (`base` is the 64-byte boundary in it).
        start: NonNull<u8>,
        /// The layout it was allocated with.
        layout: AllocLayout,
    },
    /// A `Vec<T>` whose heap buffer `base` is, kept as its raw parts rather
    /// than boxed: one allocation fewer for every tensor made from a `Vec`
    /// (rust-numpy's `PySliceContainer` keeps a `Vec` the same way).
    Vec(VecParts),
    /// Any other Rust value that owns the bytes (an `Arc<[T]>`, a
    /// `Box<[T]>`, a memory map), handed over by `Tensor::from_owner` and
    /// its siblings (`src/owned.rs`).
    Rust(#[allow(dead_code)] RustOwner),
    /// Memory owned by another object (a NumPy array, a Python buffer),
    /// which this storage keeps alive.
    // Only the Python layer (NumPy arrays, buffers) keeps memory alive so.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    KeptAlive(#[allow(dead_code)] Box<dyn Any + Send + Sync>),
    /// An imported DLPack managed tensor; dropping the deleter releases it.
    Imported(#[allow(dead_code)] AllocationDeleter),
    /// A storage of another compiled copy of dlbridge, handed over with the
    /// C function that lets it go (`src/python/handoff.rs`).
    // Only the Python layer receives storages from other copies.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    Released(#[allow(dead_code)] ReleasedBy),
    /// A shared-memory segment received from another process.
    // Only the Python layer receives segments (through `multiprocessing`).
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    Shared(Box<SharedSegment>),
}

// SAFETY: a Storage is plain memory plus an owner that is itself Send (a
// Rust owner, which is never referenced, only dropped) or Send + Sync (the
// DLPack deleter must be callable from any thread, per the spec), and its
// release runs once, from whichever thread drops the last `Arc`. It never
// touches the elements; the raw-pointer reads and writes made through its base
// address carry their own safety arguments (module docs).
unsafe impl Send for Storage {}
// SAFETY: see `Send` above; `&Storage` exposes only the base address, never
// the owner (so a Rust owner need not be `Sync`).
unsafe impl Sync for Storage {}

impl Storage {
    /// Allocates `bytes` zeroed bytes, aligned for every dtype.
    ///
    /// Returns `None` when the size is invalid or the allocator has no memory
    /// for it (NumPy raises `MemoryError` then; aborting would take the whole
    /// interpreter down).
    pub(crate) fn zeroed(bytes: usize) -> Option<Storage> {
        Storage::allocate(bytes, true)
    }

    /// Allocates `bytes` bytes without initialising them, aligned for every
    /// dtype. For copy destinations, which are written in full before anyone
    /// reads them: it spares a pass over the memory that zeroing would cost.
    ///
    /// Returns `None` when the size is invalid or the allocator fails.
    pub(crate) fn uninit(bytes: usize) -> Option<Storage> {
        Storage::allocate(bytes, false)
    }

    fn allocate(bytes: usize, zeroed: bool) -> Option<Storage> {
        // A zero-size allocation is not allowed; the extra bytes keep the
        // pointer real (DLPack consumers may reject NULL data).
        let size = bytes.checked_add(ALIGNMENT)?;
        let layout = AllocLayout::from_size_align(size, ALLOCATOR_ALIGNMENT).ok()?;
        // SAFETY: `layout` has a non-zero size.
        let start = NonNull::new(unsafe {
            if zeroed {
                alloc::alloc_zeroed(layout)
            } else {
                alloc::alloc(layout)
            }
        })?;
        let skip = start.as_ptr().align_offset(ALIGNMENT);
        debug_assert!(skip < ALIGNMENT);
        // SAFETY: `skip < ALIGNMENT`, so `base..base + bytes` lies inside the
        // `bytes + ALIGNMENT` allocated.
        let base = unsafe { NonNull::new_unchecked(start.as_ptr().add(skip)) };
        if !zeroed {
            advise_huge_pages(base.as_ptr(), bytes);
        }
        Some(Storage {
            base,
            extent: Extent {
                start: 0,
                len: bytes,
            },
            owner: Owner::Allocated { start, layout },
            relocated: OnceLock::new(),
            reachable: AtomicBool::new(false),
        })
    }

    /// Takes ownership of a vector without copying it.
    pub(crate) fn from_vec<T: Send + Sync + 'static>(values: Vec<T>) -> Storage {
        let mut values = std::mem::ManuallyDrop::new(values);
        // `as_mut_ptr` on an empty Vec is dangling but non-null and aligned,
        // which is all a zero-element tensor needs.
        let base =
            NonNull::new(values.as_mut_ptr().cast::<u8>()).expect("Vec pointers are non-null");
        Storage {
            base,
            extent: Extent {
                start: 0,
                len: std::mem::size_of_val::<[T]>(&values),
            },
            owner: Owner::Vec(VecParts {
                length: values.len(),
                capacity: values.capacity(),
                kind: VecKind::of::<T>(),
            }),
            relocated: OnceLock::new(),
            reachable: AtomicBool::new(false),
        }
    }

    /// Takes charge of `owner`, a Rust value that owns the bytes `locate`
    /// finds in it (an address and a length). The storage's memory is those
    /// bytes from byte `skip` on (a placement that need not be a whole number
    /// of elements). The owner is dropped once, with the storage, on
    /// whichever thread lets go of it last. A storage made so is reachable
    /// from Rust only, until it is exposed.
    ///
    /// `locate` is called once, on the owner in its final place (boxed, so
    /// an owner holding its elements inline, an array, does not move them
    /// afterwards). If it panics, the owner is dropped. Fails with the
    /// owner's length in bytes, having dropped it, when `skip` is past it.
    ///
    /// # Safety
    ///
    /// The bytes `locate` returns must stay valid, and be written by no one
    /// but tensors on this storage, for as long as the owner lives untouched:
    /// it is never referenced again, only dropped.
    pub(crate) unsafe fn owned_by<O: Send + 'static>(
        owner: O,
        skip: usize,
        locate: impl FnOnce(&mut O) -> (NonNull<u8>, usize),
    ) -> std::result::Result<Storage, usize> {
        let mut owner = RustOwner::new(owner);
        // SAFETY: `owner` was made from an `O` just above, and the
        // reference ends with `locate`, before the owner is moved into the
        // storage.
        let (start, len) = locate(unsafe { owner.value_mut::<O>() });
        let Some(rest) = len.checked_sub(skip) else {
            return Err(len);
        };
        // SAFETY: `skip <= len`: the address is inside the located bytes or
        // one past their end.
        let base = unsafe { NonNull::new_unchecked(start.as_ptr().add(skip)) };
        Ok(Storage {
            base,
            extent: Extent {
                start: 0,
                len: rest,
            },
            owner: Owner::Rust(owner),
            relocated: OnceLock::new(),
            reachable: AtomicBool::new(false),
        })
    }

    /// Marks a Rust owner's bytes as writable `bool`s
    /// (`Tensor::from_owner_mut` of `bool` elements): each byte other than 0
    /// and 1 is made 1 when the storage is dropped, before the owner is, so
    /// that the owner never holds an invalid `bool`, whatever a `uint8` view
    /// wrote. No effect on other owners (a `Vec<bool>` is dropped without
    /// being read, and `into_vec` checks its bytes).
    pub(crate) fn holding_bools(mut self) -> Storage {
        if let Owner::Rust(owner) = &mut self.owner {
            owner.bools = true;
        }
        self
    }

    /// The length of the `Vec<T>` this storage was made from
    /// (`Storage::from_vec`), when it was made from one of that element type
    /// and its bytes are still there (not moved to shared memory).
    pub(crate) fn vec_len<T: 'static>(&self) -> Option<usize> {
        match &self.owner {
            Owner::Vec(parts)
                if (parts.kind.element)() == TypeId::of::<T>()
                    && self.relocated.get().is_none() =>
            {
                Some(parts.length)
            }
            _ => None,
        }
    }

    /// The `Vec<T>` this storage was made from (`Storage::from_vec`), without
    /// copying, or the storage back when it holds anything else: memory of
    /// another element type, or of another owner, or bytes moved into shared
    /// memory (`move_to_shared`: the vector's own buffer no longer holds what
    /// tensors wrote since).
    pub(crate) fn into_vec<T: 'static>(self) -> std::result::Result<Vec<T>, Storage> {
        let parts = match &self.owner {
            Owner::Vec(parts) if self.vec_len::<T>().is_some() => (parts.length, parts.capacity),
            _ => return Err(self),
        };
        // The storage's fields own nothing else once the vector is taken
        // back: `relocated` is empty and the flags are plain values.
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `base` and the parts are those of a `Vec<T>` that
        // `from_vec` forgot (the element type is checked above), taken back
        // once: the storage is forgotten, so its `Drop` does not release it.
        Ok(unsafe { Vec::from_raw_parts(this.base.as_ptr().cast::<T>(), parts.0, parts.1) })
    }

    /// What kind of owner keeps the bytes, for `Tensor::try_into_array`'s
    /// refusals.
    pub(crate) fn owner_kind(&self) -> OwnerKind {
        match &self.owner {
            Owner::Vec(parts) => OwnerKind::Vec {
                element: (parts.kind.name)(),
            },
            Owner::Allocated { .. } => OwnerKind::Allocated,
            Owner::Rust(_) => OwnerKind::Rust,
            Owner::KeptAlive(_) | Owner::Imported(_) | Owner::Released(_) | Owner::Shared(_) => {
                OwnerKind::Foreign
            }
        }
    }

    /// Adopts memory kept alive by `owner` (for example a reference to the
    /// NumPy array that owns it), released when the storage is dropped.
    ///
    /// # Safety
    ///
    /// The `extent` bytes around `base` must stay valid for as long as
    /// `owner` lives, and no tensor built on this storage may reach others.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    pub(crate) unsafe fn kept_alive_by(
        base: NonNull<u8>,
        extent: Extent,
        owner: Box<dyn Any + Send + Sync>,
    ) -> Storage {
        Storage {
            base,
            extent,
            owner: Owner::KeptAlive(owner),
            relocated: OnceLock::new(),
            // The owner is a Python object, or memory Python handed over.
            reachable: AtomicBool::new(true),
        }
    }

    /// Adopts memory in a shared-memory segment received from another
    /// process, which the storage keeps mapped.
    ///
    /// # Safety
    ///
    /// The `extent` bytes around `base` must lie inside the segment's
    /// mapping, and no tensor built on this storage may reach others.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    pub(crate) unsafe fn in_segment(
        base: NonNull<u8>,
        extent: Extent,
        segment: SharedSegment,
    ) -> Storage {
        Storage {
            base,
            extent,
            owner: Owner::Shared(Box::new(segment)),
            relocated: OnceLock::new(),
            // Received through Python's multiprocessing.
            reachable: AtomicBool::new(true),
        }
    }

    /// Adopts memory owned by an imported DLPack tensor.
    ///
    /// # Safety
    ///
    /// The `extent` bytes around `base` (those the validated descriptor
    /// allows) must stay valid until `deleter` is dropped, and `deleter`
    /// must release exactly that tensor.
    pub(crate) unsafe fn imported(
        base: NonNull<u8>,
        extent: Extent,
        deleter: AllocationDeleter,
    ) -> Storage {
        Storage {
            base,
            extent,
            owner: Owner::Imported(deleter),
            relocated: OnceLock::new(),
            // A Rust or C producer's memory: its writes are that producer's
            // documented contract. The Python layer exposes what it imports.
            reachable: AtomicBool::new(false),
        }
    }

    /// Adopts the storage of another compiled copy of dlbridge, which
    /// `release` lets go when this storage is dropped.
    ///
    /// # Safety
    ///
    /// The `extent` bytes around `base` must stay valid until `release` is
    /// dropped, and must not wrap the address space.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    pub(crate) unsafe fn released_by(
        base: NonNull<u8>,
        extent: Extent,
        release: ReleasedBy,
    ) -> Storage {
        Storage {
            base,
            extent,
            owner: Owner::Released(release),
            relocated: OnceLock::new(),
            // Only handed over on its way to Python.
            reachable: AtomicBool::new(true),
        }
    }

    /// This storage with tensors held to `extent`, a part of its current
    /// extent: narrowing what may be reached is always sound. For a copy
    /// that keeps its source's placement past some padding
    /// (`Tensor::storage_copy`).
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    pub(crate) fn within(mut self, extent: Extent) -> Storage {
        let end = |e: Extent| e.start.checked_add_unsigned(e.len);
        assert!(
            extent.start >= self.extent.start && end(extent) <= end(self.extent),
            "{extent:?} is not inside {:?}",
            self.extent
        );
        self.extent = extent;
        self
    }

    /// The address element offsets are measured from: in the shared segment
    /// once the storage has moved there.
    pub(crate) fn base(&self) -> *mut u8 {
        match self.relocated.get() {
            Some(relocated) => relocated.base.as_ptr(),
            None => self.base.as_ptr(),
        }
    }

    /// The bytes tensors on this storage may reach, relative to [`Storage::base`]:
    /// what `crate::bounds::check` holds every layout to.
    pub(crate) fn extent(&self) -> Extent {
        self.extent
    }

    /// Whether Python or a DLPack consumer may reach the bytes (see
    /// [`Storage::expose`]), so that safe Rust may reference them only while
    /// attached to the interpreter.
    pub(crate) fn is_reachable(&self) -> bool {
        self.reachable.load(Ordering::SeqCst)
    }

    /// Marks the bytes as reachable by a party other than Rust code holding
    /// tensor handles, before they are handed to it: Python, a NumPy array, a
    /// DLPack consumer. Returns whether this call made the change (`false`
    /// when the storage was already reachable).
    ///
    /// The store is sequentially consistent, and `crate::access` loads the
    /// flag again after registering a borrow, so a thread taking a
    /// token-less guard and a thread exposing the storage cannot both miss
    /// each other: either the guard is refused, or the exposing thread finds
    /// its borrow in the registry ([`crate::tensor::Tensor::expose`]).
    ///
    /// A storage only this handle reaches (a fresh `zeros` or copy on its
    /// way to Python, the common case) is marked with a plain store: no
    /// other handle exists to take a guard or read the flag meanwhile (a new
    /// one is only made from this one, or from a `Weak`, checked too), and
    /// handing this one to another thread synchronizes. The swap, a full
    /// barrier behind the stores that just built the tensor, cost `zeros` a
    /// twentieth of its time.
    #[inline]
    pub(crate) fn mark_reachable(self: &Arc<Self>) -> bool {
        // A load first: exposing an already reachable storage (every view
        // Python makes) then writes nothing to a shared cache line.
        if self.reachable.load(Ordering::SeqCst) {
            return false;
        }
        if Arc::strong_count(self) == 1 && Arc::weak_count(self) == 0 {
            self.reachable.store(true, Ordering::Relaxed);
            return true;
        }
        !self.reachable.swap(true, Ordering::SeqCst)
    }

    /// The shared-memory segment the bytes are in, if they are in one.
    pub(crate) fn segment(&self) -> Option<&SharedSegment> {
        match &self.owner {
            Owner::Shared(segment) => Some(segment),
            _ => self.relocated.get().map(|relocated| &relocated.segment),
        }
    }

    /// The bytes tensors on this storage may reach, as absolute addresses
    /// `[start, end)` (for the borrow registry); `None` when there are none.
    pub(crate) fn byte_range(&self) -> Option<(usize, usize)> {
        let start = (self.base() as usize).checked_add_signed(self.extent.start)?;
        (self.extent.len > 0).then(|| (start, start + self.extent.len))
    }

    /// Moves the bytes into a fresh shared-memory segment, in place: every
    /// tensor on this storage reads and writes the segment from then on. A
    /// no-op for a storage already in one.
    ///
    /// # Safety
    ///
    /// No one may write the bytes while they are copied (the caller holds an
    /// exclusive borrow of [`Storage::byte_range`]).
    pub(crate) unsafe fn move_to_shared(&self) -> Result<()> {
        if self.segment().is_some() {
            return Ok(());
        }
        let segment = SharedSegment::create(self.extent.len)?;
        if self.extent.len > 0 {
            // SAFETY: the extent's bytes are valid (the constructors'
            // contracts) and unwritten meanwhile (this function's); the
            // segment is fresh and at least that long; they cannot overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.base.as_ptr().offset(self.extent.start),
                    segment.ptr().as_ptr(),
                    self.extent.len,
                );
            }
        }
        let base = NonNull::new(segment.ptr().as_ptr().wrapping_offset(-self.extent.start))
            .expect("an address inside a mapping is not NULL");
        // Another thread may have moved the storage meanwhile: its segment
        // stays, and this one is dropped.
        let _ = self.relocated.set(Box::new(Relocated { base, segment }));
        Ok(())
    }
}

/// Large buffers ask the kernel for transparent huge pages, as NumPy does
/// for buffers of 4 MiB and more: a fresh buffer is then faulted in 2 MiB at a
/// time instead of 4 KiB, which is most of the cost of copying into it.
fn advise_huge_pages(start: *mut u8, bytes: usize) {
    const THRESHOLD: usize = 4 << 20;
    #[cfg(target_os = "linux")]
    if bytes >= THRESHOLD {
        // madvise wants a page-aligned start; advise the whole pages inside.
        let page = 4096;
        let first = (start as usize).next_multiple_of(page);
        let end = (start as usize + bytes) & !(page - 1);
        if end > first {
            // SAFETY: the range lies inside an allocation this storage owns;
            // MADV_HUGEPAGE changes no contents and its failure is harmless.
            unsafe { libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (start, bytes, THRESHOLD);
}

/// An owner behind a C function: `release(context)` lets it go, once, when
/// this is dropped. What another compiled copy of dlbridge hands over (its
/// own `Arc` of a storage), since Rust types and the Rust calling convention
/// are not shared between separately compiled copies.
pub(crate) struct ReleasedBy {
    context: *mut std::ffi::c_void,
    release: unsafe extern "C" fn(*mut std::ffi::c_void),
}

impl ReleasedBy {
    /// Takes charge of `context`: `release` is called with it once, when the
    /// result is dropped.
    ///
    /// # Safety
    ///
    /// `release(context)` must be safe to call once, from any thread, with or
    /// without the interpreter, and must not unwind.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    pub(crate) unsafe fn new(
        context: *mut std::ffi::c_void,
        release: unsafe extern "C" fn(*mut std::ffi::c_void),
    ) -> ReleasedBy {
        ReleasedBy { context, release }
    }
}

impl Drop for ReleasedBy {
    fn drop(&mut self) {
        // SAFETY: `new`'s contract; this runs once.
        unsafe { (self.release)(self.context) }
    }
}

// SAFETY: `new`'s contract makes the release callable from any thread, and
// `&ReleasedBy` exposes nothing.
unsafe impl Send for ReleasedBy {}
// SAFETY: as for `Send`.
unsafe impl Sync for ReleasedBy {}

/// The kinds of owner [`Storage::owner_kind`] tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OwnerKind {
    /// A `Vec` of the named element type (`std::any::type_name`).
    Vec {
        /// The element type's name.
        element: &'static str,
    },
    /// An allocation made here (`zeros`, copies).
    Allocated,
    /// Another Rust owner (`Tensor::from_owner` and its siblings).
    Rust,
    /// Memory of Python, another framework, another compiled copy of
    /// dlbridge or another process.
    Foreign,
}

/// The length, capacity and element type of a `Vec` whose buffer is a
/// storage's `base`.
struct VecParts {
    length: usize,
    capacity: usize,
    /// What depends on the element type, behind one pointer so that a
    /// storage stays small.
    kind: &'static VecKind,
}

/// The element type of a `Vec` taken apart by `Storage::from_vec`: how to
/// release it, and which type it is (a tensor's dtype does not say, since
/// `reinterpret` changes it, and `Storage::into_vec` must rebuild the very
/// `Vec<T>` that was given).
struct VecKind {
    /// `release_vec::<T>`.
    release: unsafe fn(NonNull<u8>, usize, usize),
    /// `TypeId::of::<T>`: compared, where function pointers could be merged
    /// for element types whose release compiles to the same code.
    element: fn() -> TypeId,
    /// `std::any::type_name::<T>`, for messages.
    name: fn() -> &'static str,
}

impl VecKind {
    /// The kind of `Vec<T>`, one static table per element type.
    fn of<T: 'static>() -> &'static VecKind {
        const {
            &VecKind {
                release: release_vec::<T>,
                element: TypeId::of::<T>,
                name: std::any::type_name::<T>,
            }
        }
    }
}

/// A Rust value of any type, boxed and taken apart into a raw pointer and the
/// function that drops it: the owner is never referenced once its bytes are
/// located (a `Box` would assert unique access each time it moves, while
/// tensors read and write through pointers into it), and is dropped once.
struct RustOwner {
    value: NonNull<()>,
    /// `drop_owner::<O>` for the owner's type.
    drop: unsafe fn(NonNull<()>),
    /// Whether the bytes are `bool`s the owner gets back writable: tensors
    /// may have written other bytes than 0 and 1 into them (through a
    /// `uint8` view), which the storage turns back into `bool`s before the
    /// owner, whose `Drop` may read them, is dropped.
    bools: bool,
}

impl RustOwner {
    fn new<O: Send + 'static>(owner: O) -> RustOwner {
        RustOwner {
            value: NonNull::from(Box::leak(Box::new(owner))).cast(),
            drop: drop_owner::<O>,
            bools: false,
        }
    }

    /// The owner, to locate its bytes in.
    ///
    /// # Safety
    ///
    /// `O` is the type this was made from, and the reference ends before any
    /// pointer into the owner is used.
    unsafe fn value_mut<O>(&mut self) -> &mut O {
        // SAFETY: the caller's contract; the value is live until `drop`.
        unsafe { self.value.cast::<O>().as_mut() }
    }
}

impl Drop for RustOwner {
    fn drop(&mut self) {
        // SAFETY: `drop` is `drop_owner` for the type `value` was made from,
        // called once, here.
        unsafe { (self.drop)(self.value) }
    }
}

/// Drops the boxed owner `RustOwner::new` took apart.
///
/// # Safety
///
/// `value` came from `Box::<O>::leak` and is dropped once.
unsafe fn drop_owner<O>(value: NonNull<()>) {
    // SAFETY: the caller's contract.
    drop(unsafe { Box::from_raw(value.cast::<O>().as_ptr()) });
}

/// Rebuilds and drops the `Vec<T>` taken apart by `Storage::from_vec`.
///
/// # Safety
///
/// `base`, `length` and `capacity` are the parts of a `Vec<T>` forgotten by
/// `Storage::from_vec`, and this is called once for them.
unsafe fn release_vec<T>(base: NonNull<u8>, length: usize, capacity: usize) {
    // SAFETY: the caller passes the parts of a forgotten `Vec<T>`, once.
    drop(unsafe { Vec::from_raw_parts(base.as_ptr().cast::<T>(), length, capacity) });
}

impl Drop for Storage {
    fn drop(&mut self) {
        match self.owner {
            // SAFETY: `start` came from the allocator with `layout` and is
            // freed once, here.
            Owner::Allocated { start, layout } => unsafe { alloc::dealloc(start.as_ptr(), layout) },
            Owner::Vec(VecParts {
                length,
                capacity,
                kind,
            }) => {
                // SAFETY: `base` and the parts are those of the `Vec` that
                // `from_vec` forgot, released once, here.
                unsafe { (kind.release)(self.base, length, capacity) }
            }
            Owner::Rust(RustOwner { bools: true, .. }) => {
                // The bytes the owner handed over, where its tensors wrote
                // them (not the shared segment a move copied them to).
                let start = self.base.as_ptr().wrapping_offset(self.extent.start);
                for i in 0..self.extent.len {
                    // SAFETY: the extent's bytes are the owner's, valid until
                    // it is dropped just after this; no tensor is left to
                    // read or write them, and the pointer is the one tensors
                    // wrote through (the owner itself is not referenced).
                    unsafe {
                        let byte = start.add(i);
                        if byte.read() > 1 {
                            byte.write(1);
                        }
                    }
                }
            }
            // The other owners release their memory when dropped.
            Owner::Rust(_)
            | Owner::KeptAlive(_)
            | Owner::Imported(_)
            | Owner::Released(_)
            | Owner::Shared(_) => {}
        }
    }
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let owner = match self.owner {
            Owner::Allocated { .. } => "allocated",
            Owner::Vec(_) => "rust vector",
            Owner::Rust(_) => "rust owner",
            Owner::KeptAlive(_) => "kept alive by its owner",
            Owner::Imported(_) => "imported",
            Owner::Released(_) => "another copy of dlbridge",
            Owner::Shared(_) => "shared-memory segment",
        };
        f.debug_struct("Storage")
            .field("base", &self.base())
            .field("extent", &self.extent)
            .field("owner", &owner)
            .field("shared", &self.segment().is_some())
            .field("reachable", &self.is_reachable())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_storage_stays_small() {
        // Every tensor made allocates one: the rare owners (shared-memory
        // segments, relocations) are boxed, and the `Vec`'s element type sits
        // behind one pointer, so that it fits in 80 bytes on 64-bit targets.
        #[cfg(target_pointer_width = "64")]
        assert!(
            std::mem::size_of::<Storage>() <= 80,
            "{}",
            std::mem::size_of::<Storage>()
        );
    }

    #[test]
    fn zeroed_storage_is_aligned_and_zero() {
        let storage = Storage::zeroed(100).unwrap();
        assert_eq!(storage.base() as usize % ALIGNMENT, 0);
        // SAFETY: the allocation holds 100 initialised bytes.
        let bytes = unsafe { std::slice::from_raw_parts(storage.base(), 100) };
        assert!(bytes.iter().all(|&b| b == 0));
        assert!(Storage::zeroed(0).is_some());
        assert!(Storage::zeroed(usize::MAX).is_none());
    }

    #[test]
    fn vector_storage_drops_the_vector_once_in_place() {
        struct Counted(Arc<AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let drops = Arc::new(AtomicUsize::new(0));
        let mut values: Vec<Counted> = Vec::with_capacity(5);
        values.extend((0..3).map(|_| Counted(Arc::clone(&drops))));
        let address = values.as_ptr() as usize;
        let storage = Storage::from_vec(values);
        assert_eq!(storage.base() as usize, address); // not moved or copied
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(storage);
        assert_eq!(drops.load(Ordering::SeqCst), 3);
        // An empty vector, with no allocation at all.
        drop(Storage::from_vec(Vec::<f64>::new()));
    }

    #[test]
    fn imported_storage_releases_exactly_once() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let mut data = vec![1u8, 2, 3];
        let base = NonNull::new(data.as_mut_ptr()).unwrap();
        let deleter = AllocationDeleter::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let extent = Extent { start: 0, len: 3 };
        // SAFETY: `data` outlives the storage.
        let storage = Arc::new(unsafe { Storage::imported(base, extent, deleter) });
        let view = Arc::clone(&storage);
        drop(storage);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        drop(view);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
