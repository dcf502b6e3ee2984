//! Runtime borrow checking of tensor memory, after rust-numpy's
//! `PyReadonlyArray`/`PyReadwriteArray`.
//!
//! Many tensors can alias one buffer: views of one storage, and separate
//! imports of the same NumPy array, which dlbridge cannot tell apart. So
//! borrows are tracked by address range, process-wide: a shared borrow
//! conflicts with an overlapping exclusive one, an exclusive borrow with any
//! overlapping borrow. Ranges are compared as whole spans, so two interleaved
//! views (`t[::2]`, `t[1::2]`) conflict even though they share no element:
//! conservative, and therefore sound.
//!
//! This guards Rust code against Rust code. Python code and DLPack consumers
//! (torch, NumPy) can still write to shared memory; with the GIL held and no
//! call back into Python while a borrow is alive, they cannot run meanwhile.

use crate::error::{Error, Result};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

struct Entry {
    id: u64,
    start: usize,
    end: usize,
    exclusive: bool,
}

static ACTIVE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A live borrow of the byte range `[start, end)`; released when dropped.
#[derive(Debug)]
#[must_use = "the borrow ends as soon as it is dropped"]
pub struct Borrow {
    id: u64,
}

fn active() -> std::sync::MutexGuard<'static, Vec<Entry>> {
    // A panic while holding the lock leaves the list consistent (every
    // mutation is a single push or swap_remove), so poisoning is ignored.
    ACTIVE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Borrow {
    /// Borrows `range` (None for an empty tensor, which borrows nothing),
    /// shared or exclusive, failing if it conflicts with a live borrow.
    pub fn acquire(range: Option<(usize, usize)>, exclusive: bool) -> Result<Borrow> {
        let Some((start, end)) = range else {
            return Ok(Borrow { id: 0 });
        };
        let mut active = active();
        let conflict = active
            .iter()
            .any(|e| e.start < end && start < e.end && (exclusive || e.exclusive));
        if conflict {
            return Err(Error::AlreadyBorrowed { exclusive });
        }
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        active.push(Entry {
            id,
            start,
            end,
            exclusive,
        });
        Ok(Borrow { id })
    }
}

impl Drop for Borrow {
    fn drop(&mut self) {
        if self.id == 0 {
            return;
        }
        let mut active = active();
        if let Some(position) = active.iter().position(|e| e.id == self.id) {
            active.swap_remove(position);
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
}
