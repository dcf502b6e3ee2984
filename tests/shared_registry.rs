//! Switching this process's copy of dlbridge to a shared borrow registry, as
//! the Python layer does when a second extension's copy published one: live
//! borrows follow, later ones land in the shared table, and releases go back
//! to the table each borrow came from. This file is its own test binary, so
//! the switch does not leak into other tests.

use dlbridge::borrow::{self, InstallError, REGISTRY_API_VERSION, REGISTRY_GRANTED, RegistryApi};
use dlbridge::{Error, Tensor};

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
    assert!(!borrow::is_shared());

    // An older table is refused before anything changes.
    let old = Box::leak(Box::new(RegistryApi {
        version: 0,
        ..*borrow::new_shared_table()
    }));
    // SAFETY: the fields other than `version` are a real leaked table's.
    let refused = unsafe { borrow::install_shared(old) };
    assert_eq!(
        refused,
        Err(InstallError::Version {
            found: 0,
            needed: REGISTRY_API_VERSION
        })
    );
    assert!(!borrow::is_shared());

    let shared = borrow::new_shared_table();
    // SAFETY: a table built by dlbridge follows the contract.
    unsafe { borrow::install_shared(shared) }.unwrap();
    assert!(borrow::is_shared());
    // SAFETY: as above; installing the same table again is a no-op.
    unsafe { borrow::install_shared(shared) }.unwrap();
    // SAFETY: as above.
    let other = unsafe { borrow::install_shared(borrow::new_shared_table()) };
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
