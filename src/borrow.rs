//! Runtime borrow checking of tensor memory, after rust-numpy's
//! `PyReadonlyArray`/`PyReadwriteArray`.
//!
//! # What is tracked
//!
//! Many tensors can alias one buffer: views of one storage, and separate
//! imports of the same NumPy array, which dlbridge cannot tell apart. So
//! borrows are tracked by address range: a shared borrow conflicts with an
//! overlapping exclusive one, an exclusive borrow with any overlapping borrow.
//! Ranges are compared as whole spans, so two interleaved views (`t[::2]`,
//! `t[1::2]`) conflict even though they share no element: conservative, and
//! therefore sound.
//!
//! # One registry per process
//!
//! Every extension built on dlbridge compiles its own copy of this crate, so a
//! `static` here would give each copy a registry of its own, blind to the
//! borrows of the others. The registry is therefore reached through a C
//! function table, [`RegistryApi`], that copies can hand to each other. Each
//! copy starts on a table of its own (all a Rust program without Python ever
//! needs) and switches to a shared one when [`install_shared`] is called. With
//! the `python` feature that happens when the module is initialised and the
//! first time a copy takes a `Tensor` from Python: the table lives in a
//! capsule on `dlbridge._dlbridge` (see `src/python/registry.rs`), so every
//! copy in the process ends on the same one. Borrows a copy took before it
//! switched are registered in the shared table at that moment, and every
//! [`Borrow`] is released into the table it was acquired from.
//!
//! # Who registers
//!
//! Rust code: the typed accessors (`as_slice`, `view_mut_py`, ...) and the
//! public core operations (`Tensor::to_dtype`, `assign`, `to_scalars`,
//! printing), which may run on threads that do not hold the GIL. The
//! operations Python code starts while holding the GIL only *check* that no
//! Rust borrow conflicts (`Participation::CheckOnly`): they do not register,
//! so two Python threads never refuse each other (NumPy and PyTorch do not
//! either), while an extension that holds a `SliceMut` and calls back into
//! Python still has dlbridge's writes refused. Python-started copies that
//! release the GIL (1 MiB and more) register a *Python* borrow
//! (`Participation::Detached`): a Rust borrow that conflicts with it is
//! refused while the copy runs, but Python operations never are.
//!
//! Shared-memory segments register too, for as long as they are mapped
//! (`crate::shared`): every Rust borrow of their bytes is refused with
//! [`Error::SharedAcrossProcesses`], whichever copy of dlbridge asks and
//! whatever object the memory arrived through (a NumPy array or torch tensor
//! over a segment included), since other processes may write them at any
//! time. Python operations are not refused by them.
//!
//! # What it cannot see
//!
//! Python code writing through NumPy or torch, and DLPack consumers: none of
//! them registers. So the registry alone does not make a Rust reference
//! sound; who may hold one is decided before it registers
//! (`crate::access`): memory only Rust can reach gets `Send` guards; memory
//! Python or a consumer can reach (the storage is flagged reachable when it
//! is first exposed) gets guards bound to the interpreter's token, which
//! cannot leave the thread holding the GIL, so no other Python thread runs
//! while they are used; memory in a shared-memory segment gets none.
//! `docs/rust.md` ("Who may hold a reference") states the model and what
//! remains the caller's: Python code the guard's own thread runs meanwhile.

use crate::error::{Error, Result};
use std::ffi::{c_int, c_void};
use std::sync::Mutex;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// The version of [`RegistryApi`] this copy of dlbridge builds, and the
/// least it accepts from a shared table.
///
/// A version only ever adds fields at the end of the table, so a table of
/// version `N` or newer has every field this copy uses.
///
/// Version 2 added `acquire_as` (borrows of operations started from Python
/// that run without the GIL, and shared-memory segments), made `check`
/// ignore those, and `acquire` answer [`REGISTRY_SEGMENT`] over a segment.
/// A version-1 table cannot hold them, so this copy refuses it.
pub(crate) const REGISTRY_API_VERSION: u64 = 2;

/// What `acquire` and `check` return when the borrow is (or would be) granted.
pub(crate) const REGISTRY_GRANTED: c_int = 0;

/// What `acquire` and `check` return when the borrow conflicts with a live
/// one. Callers treat every value other than [`REGISTRY_GRANTED`] as a
/// conflict, so a newer table may add reasons without granting by mistake.
pub(crate) const REGISTRY_CONFLICT: c_int = 1;

/// What `acquire` (and `acquire_as` for a Rust borrow) returns when the range
/// overlaps a registered shared-memory segment (version 2). A version-1 copy
/// reads it as a conflict, which refuses the borrow too.
pub(crate) const REGISTRY_SEGMENT: c_int = 2;

/// `acquire_as` holders: Rust code (what `acquire` registers).
const HOLDER_RUST: u32 = 0;
/// `acquire_as` holders: an operation started from Python without the GIL.
const HOLDER_PYTHON: u32 = 1;
/// `acquire_as` holders: a mapped shared-memory segment.
const HOLDER_SEGMENT: u32 = 2;
/// `acquire_as` holders: a Rust operation that reads or writes through raw
/// pointers and holds no reference (a copy, a cast, printing).
const HOLDER_OPERATION: u32 = 3;

/// The borrow registry as a C function table, shared between the copies of
/// dlbridge that the extensions of one process compile.
///
/// The layout is fixed (`repr(C)`) and versioned: a newer dlbridge may append
/// fields, never change or remove one, and a copy uses a table only if its
/// `version` is at least [`REGISTRY_API_VERSION`].
///
/// Contract, for whoever builds a table: every function may be called from
/// any thread, with or without the GIL, concurrently, and is given `state`
/// back; the table, its state and its code stay valid until the process
/// exits (copies cache the pointer, and borrows may be released during or
/// after interpreter finalization); ranges are byte addresses `[start, end)`
/// with `start < end`.
///
/// Crate-private although it crosses between compiled extensions: each copy
/// of dlbridge reaches another's table through the capsule, as a pointer to
/// its own copy of this definition (`src/python/registry.rs`), so no other
/// crate ever names the type. Its stability promise is the `repr(C)` layout
/// and the version, not a Rust path.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct RegistryApi {
    /// The table's version; see [`REGISTRY_API_VERSION`].
    pub(crate) version: u64,
    /// Opaque state handed back to every function.
    pub(crate) state: *mut c_void,
    /// Registers a borrow of `[start, end)`, exclusive or shared: writes its
    /// id to `id` and returns [`REGISTRY_GRANTED`], or returns
    /// [`REGISTRY_CONFLICT`] (and registers nothing) if a live borrow
    /// conflicts.
    pub(crate) acquire: unsafe extern "C" fn(
        state: *mut c_void,
        start: usize,
        end: usize,
        exclusive: bool,
        id: *mut u64,
    ) -> c_int,
    /// Releases the borrow `id` that `acquire` of this table granted.
    pub(crate) release: unsafe extern "C" fn(state: *mut c_void, id: u64),
    /// Whether an operation started from Python may go ahead: no live Rust
    /// borrow (one registered by `acquire`) conflicts with `[start, end)`.
    /// Registers nothing, and ignores the borrows of `acquire_python`, so
    /// that Python threads never refuse each other. [`REGISTRY_GRANTED`] or
    /// [`REGISTRY_CONFLICT`].
    pub(crate) check: unsafe extern "C" fn(
        state: *mut c_void,
        start: usize,
        end: usize,
        exclusive: bool,
    ) -> c_int,
    /// Registers a borrow for `holder` (version 2), returning and writing
    /// `id` as `acquire` does; `release` releases it. Holder 0 is Rust code
    /// (as `acquire`). Holder 1 is an operation started from Python that
    /// runs without the GIL: granted unless a live Rust borrow conflicts,
    /// it then refuses conflicting Rust borrows while it lives, but never
    /// `check` nor another Python borrow. Holder 2 is a mapped shared-memory
    /// segment: always granted, it makes every overlapping Rust borrow
    /// answer [`REGISTRY_SEGMENT`] until released. Holder 3 is a Rust
    /// operation holding no reference (a copy in or out): a Rust borrow in
    /// every respect except that segments do not refuse it. Other holders
    /// are refused with [`REGISTRY_CONFLICT`].
    pub(crate) acquire_as: unsafe extern "C" fn(
        state: *mut c_void,
        start: usize,
        end: usize,
        exclusive: bool,
        holder: u32,
        id: *mut u64,
    ) -> c_int,
}

// SAFETY: the table's contract makes its functions callable from any thread at
// once, and `state` is only ever passed back to them; the fields themselves are
// never written after the table is built.
unsafe impl Sync for RegistryApi {}
// SAFETY: see `Sync` above.
unsafe impl Send for RegistryApi {}

/// Why [`install_shared`] did not switch to a table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[cfg_attr(not(feature = "python"), allow(dead_code))]
pub(crate) enum InstallError {
    /// The table is older than this copy of dlbridge needs.
    #[error(
        "the process-wide tensor borrow registry has version {found}; this copy of dlbridge needs version {needed} or newer (upgrade the dlbridge package)"
    )]
    Version {
        /// The table's version.
        found: u64,
        /// [`REGISTRY_API_VERSION`].
        needed: u64,
    },
    /// A borrow this copy took before switching conflicts with a live borrow
    /// in the shared table. The copy keeps its own table; installing again
    /// once the borrows are released succeeds.
    #[error(
        "tensor memory is already borrowed: a borrow taken before this extension joined the process-wide registry conflicts with one held elsewhere"
    )]
    Conflict,
    /// This copy already uses another shared table.
    #[error("this copy of dlbridge already uses another process-wide borrow registry")]
    AlreadyShared,
}

struct Entry {
    id: u64,
    start: usize,
    end: usize,
    exclusive: bool,
    /// Who holds it.
    holder: Claimant,
    /// The id of the same borrow in the shared table this registry forwards
    /// to, if it does.
    forwarded: Option<u64>,
}

struct Entries {
    list: Vec<Entry>,
    next_id: u64,
    /// The shared table this registry forwards every borrow to, once its
    /// copy has switched: borrows that were alive at the switch (and any a
    /// racing thread takes here just after it) are then seen process-wide.
    forward_to: Option<&'static RegistryApi>,
}

/// Who holds a registered borrow, and who asks for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claimant {
    /// Rust code: a typed guard or a core operation called from Rust.
    Rust,
    /// An operation started from Python, running without the GIL (and, as
    /// an asker, the check of one holding it).
    Python,
    /// A mapped shared-memory segment, which other processes may write.
    Segment,
    /// A Rust operation through raw pointers, holding no reference: a Rust
    /// borrow that a segment does not refuse.
    Operation,
}

impl Claimant {
    fn code(self) -> u32 {
        match self {
            Claimant::Rust => HOLDER_RUST,
            Claimant::Python => HOLDER_PYTHON,
            Claimant::Segment => HOLDER_SEGMENT,
            Claimant::Operation => HOLDER_OPERATION,
        }
    }

    fn from_code(code: u32) -> Option<Claimant> {
        match code {
            HOLDER_RUST => Some(Claimant::Rust),
            HOLDER_PYTHON => Some(Claimant::Python),
            HOLDER_SEGMENT => Some(Claimant::Segment),
            HOLDER_OPERATION => Some(Claimant::Operation),
            _ => None,
        }
    }

    /// Whether the holder is Rust code, for the conflict rules.
    fn is_rust(self) -> bool {
        matches!(self, Claimant::Rust | Claimant::Operation)
    }
}

impl Entries {
    /// What a borrow of `[start, end)` asked for by `asker` meets among the
    /// live ones: [`REGISTRY_GRANTED`], [`REGISTRY_CONFLICT`] or
    /// [`REGISTRY_SEGMENT`]. Rust borrows conflict with every overlapping
    /// borrow by the usual rule (an exclusive one with any, a shared one
    /// with an exclusive one) and are refused over a segment; Python's
    /// conflict only with Rust's, so Python threads never refuse each
    /// other, as NumPy and torch never do; a segment is always registered,
    /// and refuses only Rust references (operations copy in and out).
    fn conflicts(&self, start: usize, end: usize, exclusive: bool, asker: Claimant) -> c_int {
        if asker == Claimant::Segment {
            return REGISTRY_GRANTED;
        }
        let mut found = REGISTRY_GRANTED;
        for e in self.list.iter().filter(|e| e.start < end && start < e.end) {
            match e.holder {
                Claimant::Segment if asker == Claimant::Rust => return REGISTRY_SEGMENT,
                Claimant::Segment => {}
                _ if (exclusive || e.exclusive) && (asker.is_rust() || e.holder.is_rust()) => {
                    found = REGISTRY_CONFLICT;
                }
                _ => {}
            }
        }
        found
    }
}

/// The state behind a table built by this code.
struct Registry {
    entries: Mutex<Entries>,
}

impl Registry {
    const fn new() -> Registry {
        Registry {
            entries: Mutex::new(Entries {
                list: Vec::new(),
                next_id: 1,
                forward_to: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding the lock leaves the list consistent (every
        // mutation is a single push, swap_remove or field store), so
        // poisoning is ignored.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The table over this registry.
    const fn table(registry: &'static Registry) -> RegistryApi {
        RegistryApi {
            version: REGISTRY_API_VERSION,
            state: (registry as *const Registry).cast_mut().cast(),
            acquire: registry_acquire,
            release: registry_release,
            check: registry_check,
            acquire_as: registry_acquire_as,
        }
    }

    /// Starts forwarding to `shared`: registers every live borrow there, all
    /// or none, and every later one too.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    fn join(&self, shared: &'static RegistryApi) -> std::result::Result<(), InstallError> {
        let mut entries = self.lock();
        if let Some(existing) = entries.forward_to {
            return if std::ptr::eq(existing, shared) {
                Ok(())
            } else {
                Err(InstallError::AlreadyShared)
            };
        }
        let mut moved = Vec::with_capacity(entries.list.len());
        for entry in &entries.list {
            let range = (entry.start, entry.end);
            match table_acquire(shared, range, entry.exclusive, entry.holder) {
                Ok(id) => moved.push(id),
                Err(_) => {
                    for id in moved {
                        table_release(shared, id);
                    }
                    return Err(InstallError::Conflict);
                }
            }
        }
        for (entry, id) in entries.list.iter_mut().zip(moved) {
            entry.forwarded = Some(id);
        }
        entries.forward_to = Some(shared);
        Ok(())
    }
}

/// The registry behind `state`.
///
/// # Safety
///
/// `state` must be the `state` of a table built by [`Registry::table`].
unsafe fn registry<'a>(state: *mut c_void) -> &'a Registry {
    // SAFETY: such a `state` points to a `Registry` that lives for the rest of
    // the process (a `static`, or leaked by `new_shared_table`).
    unsafe { &*state.cast::<Registry>() }
}

unsafe extern "C" fn registry_acquire(
    state: *mut c_void,
    start: usize,
    end: usize,
    exclusive: bool,
    id: *mut u64,
) -> c_int {
    // SAFETY: the table's own `state`, and the caller's place for the id.
    unsafe { acquire_for(state, (start, end), exclusive, Claimant::Rust, id) }
}

unsafe extern "C" fn registry_acquire_as(
    state: *mut c_void,
    start: usize,
    end: usize,
    exclusive: bool,
    holder: u32,
    id: *mut u64,
) -> c_int {
    let Some(holder) = Claimant::from_code(holder) else {
        return REGISTRY_CONFLICT;
    };
    // SAFETY: the table's own `state`, and the caller's place for the id.
    unsafe { acquire_for(state, (start, end), exclusive, holder, id) }
}

/// `acquire` and `acquire_as` of a table built here.
///
/// # Safety
///
/// `state` is such a table's, and `id` a valid place for the id.
unsafe fn acquire_for(
    state: *mut c_void,
    (start, end): (usize, usize),
    exclusive: bool,
    holder: Claimant,
    id: *mut u64,
) -> c_int {
    // SAFETY: the table's functions get their own table's `state`.
    let registry = unsafe { registry(state) };
    let mut entries = registry.lock();
    let found = entries.conflicts(start, end, exclusive, holder);
    if found != REGISTRY_GRANTED {
        return found;
    }
    // Forwarded under this lock, so `join` cannot miss it. Locks are only
    // ever taken from a copy's own registry to a shared one, never back (a
    // shared registry forwards nowhere), so this cannot deadlock.
    let forwarded = match entries.forward_to {
        Some(shared) => match table_acquire(shared, (start, end), exclusive, holder) {
            Ok(forwarded) => Some(forwarded),
            Err(code) => return code,
        },
        None => None,
    };
    let new_id = entries.next_id;
    entries.next_id += 1;
    entries.list.push(Entry {
        id: new_id,
        start,
        end,
        exclusive,
        holder,
        forwarded,
    });
    // SAFETY: the caller passes a valid place for the id, per the contract.
    unsafe { id.write(new_id) };
    REGISTRY_GRANTED
}

unsafe extern "C" fn registry_release(state: *mut c_void, id: u64) {
    // SAFETY: the table's functions get their own table's `state`.
    let registry = unsafe { registry(state) };
    let forwarded = {
        let mut entries = registry.lock();
        let Some(position) = entries.list.iter().position(|e| e.id == id) else {
            return;
        };
        let entry = entries.list.swap_remove(position);
        entries.forward_to.zip(entry.forwarded)
    };
    if let Some((shared, forwarded)) = forwarded {
        table_release(shared, forwarded);
    }
}

unsafe extern "C" fn registry_check(
    state: *mut c_void,
    start: usize,
    end: usize,
    exclusive: bool,
) -> c_int {
    // SAFETY: the table's functions get their own table's `state`.
    let registry = unsafe { registry(state) };
    let entries = registry.lock();
    if entries.conflicts(start, end, exclusive, Claimant::Python) != REGISTRY_GRANTED {
        return REGISTRY_CONFLICT;
    }
    match entries.forward_to {
        Some(shared) if !table_check(shared, start, end, exclusive) => REGISTRY_CONFLICT,
        _ => REGISTRY_GRANTED,
    }
}

/// Registers a borrow in `table`: its id, or the code it was refused with.
fn table_acquire(
    table: &RegistryApi,
    (start, end): (usize, usize),
    exclusive: bool,
    holder: Claimant,
) -> std::result::Result<u64, c_int> {
    let mut id = 0;
    // SAFETY: every table reached here is one this code built or one that
    // `install_shared`'s caller vouched for, so it follows the contract (of
    // version 2 or newer, so `acquire_as` is there); `id` is a valid place
    // for the id.
    let code =
        unsafe { (table.acquire_as)(table.state, start, end, exclusive, holder.code(), &mut id) };
    match code {
        REGISTRY_GRANTED => Ok(id),
        // Anything else refuses: a newer table may add reasons.
        REGISTRY_SEGMENT => Err(REGISTRY_SEGMENT),
        _ => Err(REGISTRY_CONFLICT),
    }
}

fn table_release(table: &RegistryApi, id: u64) {
    // SAFETY: as in `table_acquire`; `id` was granted by this table.
    unsafe { (table.release)(table.state, id) }
}

fn table_check(table: &RegistryApi, start: usize, end: usize, exclusive: bool) -> bool {
    // SAFETY: as in `table_acquire`.
    unsafe { (table.check)(table.state, start, end, exclusive) == REGISTRY_GRANTED }
}

/// This copy's own registry, used until a shared one is installed.
static LOCAL_REGISTRY: Registry = Registry::new();
static LOCAL: RegistryApi = Registry::table(&LOCAL_REGISTRY);
/// The table new borrows go to: `LOCAL`, or the shared table once installed.
static CURRENT: AtomicPtr<RegistryApi> = AtomicPtr::new((&raw const LOCAL).cast_mut());

fn current() -> &'static RegistryApi {
    // SAFETY: `CURRENT` only ever holds `&LOCAL` or a `&'static` table given
    // to `install_shared`.
    unsafe { &*CURRENT.load(Ordering::Acquire) }
}

/// A fresh, empty registry as a table of this copy's version, for a copy to
/// publish when it finds no shared table yet.
///
/// The table and its state are leaked on purpose: other copies cache the
/// pointer and may release borrows into it until the process exits.
#[cfg_attr(not(feature = "python"), allow(dead_code))]
pub(crate) fn new_shared_table() -> &'static RegistryApi {
    let registry: &'static Registry = Box::leak(Box::new(Registry::new()));
    Box::leak(Box::new(Registry::table(registry)))
}

/// Makes `table` the registry of this copy of dlbridge, for every borrow from
/// now on. Borrows alive now are registered in `table` too (all or none) and
/// are released from both when dropped.
///
/// Installing the table already installed does nothing. Fails if `table` is
/// older than [`REGISTRY_API_VERSION`], if a live borrow of this copy
/// conflicts with one in `table` (a conflict that no one could see before),
/// or if this copy already uses another shared table.
///
/// # Safety
///
/// `table` must follow the contract of [`RegistryApi`]: its functions
/// callable from any thread, and the table, its state and its code valid until
/// the process exits.
#[cfg_attr(not(feature = "python"), allow(dead_code))]
pub(crate) unsafe fn install_shared(
    table: &'static RegistryApi,
) -> std::result::Result<(), InstallError> {
    if table.version < REGISTRY_API_VERSION {
        return Err(InstallError::Version {
            found: table.version,
            needed: REGISTRY_API_VERSION,
        });
    }
    LOCAL_REGISTRY.join(table)?;
    // Once the local registry forwards, borrows taken through either table
    // are seen in `table`, so the order of the switch does not matter.
    CURRENT.store(std::ptr::from_ref(table).cast_mut(), Ordering::Release);
    Ok(())
}

/// Whether this copy of dlbridge uses a shared table (see [`install_shared`]).
#[cfg_attr(not(feature = "python"), allow(dead_code))]
pub(crate) fn is_shared() -> bool {
    !std::ptr::eq(current(), &LOCAL)
}

/// A live borrow of the byte range `[start, end)`; released when dropped,
/// into the table it was acquired from.
#[derive(Debug)]
#[must_use = "the borrow ends as soon as it is dropped"]
pub(crate) struct Borrow {
    /// The table holding the borrow and its id there; `None` for an empty
    /// range, which borrows nothing.
    held: Option<(&'static RegistryApi, u64)>,
    /// Whether the borrow is counted in [`RUST_BORROWS`].
    counted: bool,
}

/// How many Rust borrows (references and operations) this copy of dlbridge
/// holds or is acquiring, so that the first exposure of a storage
/// (`Tensor::expose`) can skip the registry when there are none: a storage
/// no one has exposed yet can only be borrowed by the copy that made it.
/// Sequentially consistent, with the storage's flag: an acquirer counts
/// itself before it reads the flag, an exposer sets the flag before it reads
/// the count, so if the exposer reads zero the acquirer sees the flag.
/// Borrows of memory Python already reaches are not counted
/// ([`Borrow::acquire_reachable`]): its first exposure is behind it.
static RUST_BORROWS: AtomicUsize = AtomicUsize::new(0);

/// Whether this copy may hold a Rust borrow right now (see [`RUST_BORROWS`]).
pub(crate) fn any_rust_borrow() -> bool {
    RUST_BORROWS.load(Ordering::SeqCst) != 0
}

impl Borrow {
    /// A borrow of nothing (an empty range).
    const NONE: Borrow = Borrow {
        held: None,
        counted: false,
    };

    /// Borrows `range` (None for an empty tensor, which borrows nothing),
    /// shared or exclusive, failing if it conflicts with a live borrow.
    pub(crate) fn acquire(range: Option<(usize, usize)>, exclusive: bool) -> Result<Borrow> {
        Borrow::acquire_for(range, exclusive, Claimant::Rust, true)
    }

    /// [`Borrow::acquire`] of memory Python already reaches (a NumPy
    /// argument, a storage flagged reachable), left out of [`RUST_BORROWS`]:
    /// that count is for the first exposure of a storage, which for this
    /// memory has already happened. Counting is two atomic read-modify-writes,
    /// full barriers both, a tenth of a typed extension call.
    pub(crate) fn acquire_reachable(
        range: Option<(usize, usize)>,
        exclusive: bool,
    ) -> Result<Borrow> {
        Borrow::acquire_for(range, exclusive, Claimant::Rust, false)
    }

    /// Borrows `range` for a Rust operation that holds no reference (a core
    /// copy, cast or print called from Rust): as [`Borrow::acquire`], except
    /// that a shared-memory segment does not refuse it.
    pub(crate) fn acquire_operation(
        range: Option<(usize, usize)>,
        exclusive: bool,
    ) -> Result<Borrow> {
        Borrow::acquire_for(range, exclusive, Claimant::Operation, true)
    }

    /// Borrows `range` for an operation started from Python that runs
    /// without the GIL: refused only by a conflicting Rust borrow, and
    /// refusing only Rust borrows while it lives.
    pub(crate) fn acquire_python(range: Option<(usize, usize)>, exclusive: bool) -> Result<Borrow> {
        Borrow::acquire_for(range, exclusive, Claimant::Python, true)
    }

    /// Registers a mapped shared-memory segment's bytes for as long as the
    /// returned value lives: every Rust borrow overlapping them is refused
    /// with [`Error::SharedAcrossProcesses`] meanwhile, in every copy of
    /// dlbridge sharing the registry.
    pub(crate) fn register_segment(start: usize, len: usize) -> Result<Borrow> {
        let range = (len > 0).then_some((start, start + len));
        Borrow::acquire_for(range, true, Claimant::Segment, false)
    }

    /// Registers `range` for `holder` (nothing for an empty range), counted
    /// in [`RUST_BORROWS`] when `count` is asked and the holder is Rust's.
    fn acquire_for(
        range: Option<(usize, usize)>,
        exclusive: bool,
        holder: Claimant,
        count: bool,
    ) -> Result<Borrow> {
        let Some(range) = range else {
            return Ok(Borrow::NONE);
        };
        let counted = count && holder.is_rust();
        if counted {
            RUST_BORROWS.fetch_add(1, Ordering::SeqCst);
        }
        let table = current();
        match table_acquire(table, range, exclusive, holder) {
            Ok(id) => Ok(Borrow {
                held: Some((table, id)),
                counted,
            }),
            Err(code) => {
                if counted {
                    RUST_BORROWS.fetch_sub(1, Ordering::SeqCst);
                }
                Err(if code == REGISTRY_SEGMENT {
                    Error::SharedAcrossProcesses
                } else {
                    Error::AlreadyBorrowed { exclusive }
                })
            }
        }
    }

    /// Fails as [`Borrow::acquire`] would, but registers nothing: for
    /// operations that must not stand in anyone's way, only respect the
    /// borrows that exist.
    pub(crate) fn check(range: Option<(usize, usize)>, exclusive: bool) -> Result<()> {
        match range {
            Some((start, end)) if !table_check(current(), start, end, exclusive) => {
                Err(Error::AlreadyBorrowed { exclusive })
            }
            _ => Ok(()),
        }
    }
}

impl Drop for Borrow {
    fn drop(&mut self) {
        if let Some((table, id)) = self.held {
            table_release(table, id);
            if self.counted {
                RUST_BORROWS.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

/// How an operation takes part in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Participation {
    /// Registers a reference's borrow, for as long as the reference lives:
    /// the typed accessors. Refused over a shared-memory segment.
    Reference,
    /// Registers a borrow for the operation's duration: the public core API,
    /// whose Rust callers may run on any thread, and which reads and writes
    /// through raw pointers (so a shared-memory segment does not refuse it).
    Register,
    /// Only checks for a conflicting registered borrow: operations started
    /// from Python, which must not fail because of another Python thread.
    // Only the Python layer starts such operations.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    CheckOnly,
    /// Registers a borrow that only Rust borrows conflict with: operations
    /// started from Python that run without the GIL (large copies), which
    /// a Rust guard taken meanwhile on another thread must not race with,
    /// and which must still never refuse another Python thread.
    #[cfg_attr(not(feature = "python"), allow(dead_code))]
    Detached,
}

impl Participation {
    /// Registers or checks `range`; the borrow, if one was registered, lasts
    /// as long as the returned value.
    pub(crate) fn hold(
        self,
        range: Option<(usize, usize)>,
        exclusive: bool,
    ) -> Result<Option<Borrow>> {
        self.hold_of(range, exclusive, false)
    }

    /// [`Participation::hold`] of memory that is `reachable` from Python
    /// already, whose Rust references need not be counted
    /// ([`Borrow::acquire_reachable`]).
    pub(crate) fn hold_of(
        self,
        range: Option<(usize, usize)>,
        exclusive: bool,
        reachable: bool,
    ) -> Result<Option<Borrow>> {
        match self {
            Participation::Reference if reachable => {
                Borrow::acquire_reachable(range, exclusive).map(Some)
            }
            Participation::Reference => Borrow::acquire(range, exclusive).map(Some),
            Participation::Register => Borrow::acquire_operation(range, exclusive).map(Some),
            Participation::CheckOnly => Borrow::check(range, exclusive).map(|()| None),
            Participation::Detached => Borrow::acquire_python(range, exclusive).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Addresses far from any real allocation, so parallel tests that borrow
    // real tensors never overlap these.
    const BASE: usize = usize::MAX / 2;

    #[test]
    fn shared_borrows_coexist_and_exclusive_ones_do_not() {
        let r = Some((BASE, BASE + 16));
        let a = Borrow::acquire(r, false).unwrap();
        let b = Borrow::acquire(r, false).unwrap();
        assert_eq!(
            Borrow::acquire(Some((BASE + 8, BASE + 24)), true).unwrap_err(),
            Error::AlreadyBorrowed { exclusive: true }
        );
        drop((a, b));
        let w = Borrow::acquire(r, true).unwrap();
        assert!(Borrow::acquire(r, false).is_err());
        // Adjacent, non-overlapping ranges are independent.
        assert!(Borrow::acquire(Some((BASE + 16, BASE + 32)), true).is_ok());
        drop(w);
        assert!(Borrow::acquire(r, true).is_ok());
    }

    #[test]
    fn empty_ranges_never_conflict() {
        let _w = Borrow::acquire(None, true).unwrap();
        let _x = Borrow::acquire(None, true).unwrap();
    }

    #[test]
    fn checks_see_borrows_without_registering() {
        let r = Some((BASE + 64, BASE + 80));
        Borrow::check(r, true).unwrap();
        // A check registers nothing, so an exclusive borrow is still granted.
        let w = Borrow::acquire(r, true).unwrap();
        assert_eq!(
            Borrow::check(r, false).unwrap_err(),
            Error::AlreadyBorrowed { exclusive: false }
        );
        assert!(Participation::CheckOnly.hold(r, false).is_err());
        drop(w);
        assert!(Participation::CheckOnly.hold(r, true).unwrap().is_none());
        let held = Participation::Register.hold(r, true).unwrap();
        assert!(held.is_some());
        assert!(Borrow::check(r, false).is_err());
    }

    /// A registry of its own and its table, standing for one copy of
    /// dlbridge, without touching this process's `CURRENT`.
    fn copy_registry() -> (&'static Registry, &'static RegistryApi) {
        let table = new_shared_table();
        // SAFETY: `new_shared_table` builds its state with `Registry::table`.
        (unsafe { registry(table.state) }, table)
    }

    #[test]
    fn joining_moves_live_borrows_and_forwards_new_ones() {
        let (copy, own) = copy_registry();
        let shared = new_shared_table();
        let early = table_acquire(own, (100, 200), true, Claimant::Rust).unwrap();
        copy.join(shared).unwrap();
        assert!(copy.join(shared).is_ok(), "joining twice is harmless");
        assert_eq!(
            copy.join(new_shared_table()),
            Err(InstallError::AlreadyShared)
        );
        // The early borrow is now visible to another copy on the shared table.
        assert!(!table_check(shared, 150, 160, false));
        let late = table_acquire(own, (300, 400), false, Claimant::Rust).unwrap();
        assert!(table_acquire(shared, (350, 360), true, Claimant::Rust).is_err());
        assert!(!table_check(own, 150, 160, false));
        // Releasing through the copy's own table releases the forwarded ones.
        table_release(own, early);
        table_release(own, late);
        assert!(table_check(shared, 0, 1000, true));
        assert!(table_check(own, 0, 1000, true));
        // A borrow another copy holds on the shared table is seen from here.
        let other = table_acquire(shared, (500, 600), true, Claimant::Rust).unwrap();
        assert!(!table_check(own, 550, 551, false));
        assert!(table_acquire(own, (550, 551), false, Claimant::Rust).is_err());
        table_release(shared, other);
    }

    #[test]
    fn joining_with_a_conflicting_borrow_changes_nothing() {
        let (copy, own) = copy_registry();
        let shared = new_shared_table();
        let fine = table_acquire(own, (0, 10), false, Claimant::Rust).unwrap();
        let clash = table_acquire(own, (20, 30), true, Claimant::Rust).unwrap();
        let elsewhere = table_acquire(shared, (25, 26), false, Claimant::Rust).unwrap();
        assert_eq!(copy.join(shared), Err(InstallError::Conflict));
        // Nothing was left behind in the shared table, and the copy still
        // works on its own.
        assert!(table_check(shared, 0, 10, true));
        table_release(own, clash);
        table_release(shared, elsewhere);
        copy.join(shared).unwrap();
        assert!(
            !table_check(shared, 0, 10, true),
            "the remaining borrow moved"
        );
        table_release(own, fine);
        assert!(table_check(shared, 0, 10, true));
    }

    #[test]
    fn python_borrows_refuse_rust_ones_only() {
        let (copy, own) = copy_registry();
        let python =
            |table, range, exclusive| table_acquire(table, range, exclusive, Claimant::Python);
        // A detached Python read: another Python read or write goes ahead,
        // and checks (Python-started operations holding the GIL) pass.
        let reading = python(own, (0, 100), false).unwrap();
        let writing = python(own, (50, 60), true).unwrap();
        assert!(table_check(own, 0, 100, true));
        // Under a Python read, Rust's mutable guards are refused and its
        // shared ones granted; under a Python write, both are refused.
        assert!(table_acquire(own, (10, 20), true, Claimant::Rust).is_err());
        assert!(table_acquire(own, (55, 56), false, Claimant::Rust).is_err());
        table_release(own, writing);
        let shared = table_acquire(own, (10, 20), false, Claimant::Rust).unwrap();
        // A live Rust borrow refuses a conflicting Python one, and is seen
        // by checks.
        assert!(python(own, (15, 16), true).is_err());
        assert!(python(own, (15, 16), false).is_ok_and(|id| {
            table_release(own, id);
            true
        }));
        assert!(!table_check(own, 15, 16, true));
        table_release(own, shared);
        // Joining a shared table carries a Python borrow over as one.
        let shared_table = new_shared_table();
        copy.join(shared_table).unwrap();
        assert!(table_acquire(shared_table, (0, 1), true, Claimant::Rust).is_err());
        assert!(table_check(shared_table, 0, 1, true));
        table_release(own, reading);
        assert!(table_acquire(shared_table, (0, 1), true, Claimant::Rust).is_ok());
    }

    #[test]
    fn segments_refuse_every_rust_borrow_and_nothing_else() {
        let (copy, own) = copy_registry();
        let segment = table_acquire(own, (1000, 2000), true, Claimant::Segment).unwrap();
        // Rust borrows overlapping it, shared or not, are refused as segment
        // memory; Python checks and borrows are not.
        assert_eq!(
            table_acquire(own, (1500, 1501), false, Claimant::Rust),
            Err(REGISTRY_SEGMENT)
        );
        assert_eq!(
            table_acquire(own, (0, 1001), true, Claimant::Rust),
            Err(REGISTRY_SEGMENT)
        );
        assert!(table_check(own, 1000, 2000, true));
        let python = table_acquire(own, (1000, 2000), true, Claimant::Python).unwrap();
        table_release(own, python);
        // Beside it, Rust borrows are granted.
        let beside = table_acquire(own, (2000, 2001), true, Claimant::Rust).unwrap();
        table_release(own, beside);
        // An unknown holder is refused, never granted by mistake.
        let mut id = 0;
        // SAFETY: a table built here; `id` is a valid place for the id.
        let code = unsafe { (own.acquire_as)(own.state, 0, 1, false, 7, &mut id) };
        assert_eq!(code, REGISTRY_CONFLICT);
        // Carried into a shared table, and released from both.
        let shared = new_shared_table();
        copy.join(shared).unwrap();
        assert_eq!(
            table_acquire(shared, (1999, 2000), false, Claimant::Rust),
            Err(REGISTRY_SEGMENT)
        );
        table_release(own, segment);
        let granted = table_acquire(shared, (1999, 2000), false, Claimant::Rust).unwrap();
        table_release(shared, granted);
    }

    #[test]
    fn releasing_an_unknown_id_is_harmless() {
        let (_, own) = copy_registry();
        let held = table_acquire(own, (0, 10), true, Claimant::Rust).unwrap();
        table_release(own, held + 1000);
        assert!(!table_check(own, 0, 10, false), "the live borrow stays");
        table_release(own, held);
        assert!(table_check(own, 0, 10, true));
    }

    // Moved from an integration test when `borrow` became crate-private. It
    // switches this test binary's copy of dlbridge to a shared table for good,
    // as the Python layer does in every process: the other tests here may then
    // run across the switch, which must not change what they see (live
    // borrows follow, each is released into the table it came from).
    use crate::tensor::Tensor;

    /// Whether `table` would grant a borrow of `t`'s whole memory: what another
    /// copy of dlbridge sharing the table would see.
    fn grants(table: &RegistryApi, t: &Tensor, exclusive: bool) -> bool {
        let start = t.data_ptr() as usize;
        let end = start + t.nbytes();
        // SAFETY: `table` comes from `new_shared_table`, which follows the
        // `RegistryApi` contract.
        unsafe { (table.check)(table.state, start, end, exclusive) == REGISTRY_GRANTED }
    }

    #[test]
    fn switching_to_a_shared_registry_carries_every_borrow_over() {
        let t = Tensor::from_vec(vec![1.0f64; 8], &[8]).unwrap();
        let early = t.as_slice_mut::<f64>().unwrap();
        assert!(!is_shared());

        // An older table is refused before anything changes.
        let old = Box::leak(Box::new(RegistryApi {
            version: 0,
            ..*new_shared_table()
        }));
        // SAFETY: the fields other than `version` are a real leaked table's.
        let refused = unsafe { install_shared(old) };
        assert_eq!(
            refused,
            Err(InstallError::Version {
                found: 0,
                needed: REGISTRY_API_VERSION
            })
        );
        assert!(!is_shared());

        let shared = new_shared_table();
        // SAFETY: a table built by dlbridge follows the contract.
        unsafe { install_shared(shared) }.unwrap();
        assert!(is_shared());
        // SAFETY: as above; installing the same table again is a no-op.
        unsafe { install_shared(shared) }.unwrap();
        // SAFETY: as above.
        let other = unsafe { install_shared(new_shared_table()) };
        assert_eq!(other, Err(InstallError::AlreadyShared));

        // The borrow taken before the switch is visible in the shared table, and
        // still refuses local borrows.
        assert!(!grants(shared, &t, false));
        assert_eq!(
            t.as_slice::<f64>().unwrap_err(),
            Error::AlreadyBorrowed { exclusive: false }
        );
        drop(early);
        assert!(grants(shared, &t, true), "released from both tables");

        // New borrows land in the shared table, and leave it when dropped.
        let reading = t.view::<f64>().unwrap();
        assert!(grants(shared, &t, false));
        assert!(!grants(shared, &t, true));
        drop(reading);
        assert!(grants(shared, &t, true));

        // A borrow another copy registers in the shared table refuses ours.
        let mut id = 0;
        let start = t.data_ptr() as usize;
        // SAFETY: as in `grants`; `id` is a valid place for the id.
        let code = unsafe { (shared.acquire)(shared.state, start, start + 8, true, &mut id) };
        assert_eq!(code, REGISTRY_GRANTED);
        assert!(t.to_scalars().is_err());
        assert!(format!("{t}").contains("mutably borrowed"));
        // SAFETY: `id` was granted by this table.
        unsafe { (shared.release)(shared.state, id) };
        assert_eq!(t.to_scalars().unwrap().len(), 8);
    }
}
