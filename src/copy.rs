//! Strided copy and cast kernels.
//!
//! These are the only functions that read and write tensor memory in bulk.
//! They walk two layouts of the same shape in lockstep; the fast paths (one
//! `memcpy` for contiguous same-dtype copies, a typed element copy for strided
//! same-dtype ones) keep `clone()` and `contiguous()` at memory speed.

use crate::layout::Layout;
use crate::scalar::Scalar;
use crate::tensor::Tensor;

/// Calls `visit` with the storage offset of every element of `layout`, in
/// row-major order.
pub fn for_each_offset(layout: &Layout, mut visit: impl FnMut(isize)) {
    for_each_offset_pair(layout, layout, |offset, _| visit(offset));
}

/// Walks two layouts of the same shape together, calling `visit` with the
/// offsets of corresponding elements, in row-major order of the shape.
fn for_each_offset_pair(a: &Layout, b: &Layout, mut visit: impl FnMut(isize, isize)) {
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

/// Copies `src` into `dst`, converting each element to `dst`'s dtype.
///
/// The shapes must be equal (broadcast `src` first), the memory of the two
/// must not overlap, and `dst` must be writable; [`Tensor::assign`] checks all
/// three before calling this.
pub(crate) fn copy_cast(src: &Tensor, dst: &Tensor) {
    assert_eq!(src.shape(), dst.shape(), "copy_cast needs equal shapes");
    debug_assert!(!dst.is_readonly());
    let (src_type, dst_type) = (src.dtype(), dst.dtype());
    if src_type == dst_type && src.is_contiguous() && dst.is_contiguous() {
        // SAFETY: both tensors are contiguous, so each covers `nbytes` bytes
        // from its data pointer; the caller guarantees they do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(src.data_ptr(), dst.data_ptr().cast_mut(), src.nbytes())
        };
        return;
    }
    if src_type == dst_type {
        let itemsize = src_type.itemsize();
        for_each_offset_pair(src.layout(), dst.layout(), |s, d| {
            // SAFETY: `s` and `d` are elements of validated layouts; each
            // element is `itemsize` bytes and the tensors do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    src.element_ptr(s),
                    dst.element_ptr(d).cast_mut(),
                    itemsize,
                )
            };
        });
        return;
    }
    for_each_offset_pair(src.layout(), dst.layout(), |s, d| {
        // SAFETY: as above; `read` and `write` handle unaligned elements.
        unsafe {
            let value = Scalar::read(src.element_ptr(s), src_type);
            value.write(dst.element_ptr(d).cast_mut(), dst_type);
        }
    });
}

#[cfg(test)]
mod tests {
    use crate::dtype::DType;
    use crate::layout::IndexItem;
    use crate::scalar::Scalar;
    use crate::tensor::Tensor;

    fn arange(n: i64, shape: &[usize]) -> Tensor {
        Tensor::from_vec((0..n).collect::<Vec<i64>>(), shape).unwrap()
    }

    fn ints(t: &Tensor) -> Vec<i64> {
        t.to_scalars()
            .unwrap()
            .into_iter()
            .map(|s| match s {
                Scalar::Int(v) => v,
                other => panic!("not an int: {other:?}"),
            })
            .collect()
    }

    fn step(step: isize) -> IndexItem {
        IndexItem::Slice {
            start: None,
            stop: None,
            step: Some(step),
        }
    }

    #[test]
    fn deep_copy_of_transposed_and_reversed_views_is_row_major() {
        let t = arange(6, &[2, 3]);
        let transposed = Tensor::from_parts(
            t.storage().clone(),
            crate::layout::Layout::from_parts(vec![3, 2], vec![1, 3], 0),
            DType::Int64,
            false,
        );
        let copy = transposed.deep_copy().unwrap();
        assert!(copy.is_contiguous());
        assert_eq!(ints(&copy), vec![0, 3, 1, 4, 2, 5]);
        let reversed = t.index(&[step(-1), step(-2)]).unwrap();
        assert_eq!(ints(&reversed.deep_copy().unwrap()), vec![5, 3, 2, 0]);
        assert_ne!(copy.data_ptr(), t.data_ptr());
    }

    #[test]
    fn cast_copy_converts_every_element() {
        let t = Tensor::from_vec(vec![1.9f64, -1.9, 300.0], &[3]).unwrap();
        let as_u8 = t.to_dtype(DType::UInt8).unwrap();
        assert_eq!(ints(&as_u8), vec![1, 255, 44]);
        let as_f16 = t.to_dtype(DType::Float16).unwrap();
        assert_eq!(as_f16.to_scalars().unwrap()[2], Scalar::Float(300.0));
    }

    #[test]
    fn assign_broadcasts_and_handles_overlap() {
        let t = arange(5, &[5]);
        let head = t
            .index(&[IndexItem::Slice {
                start: None,
                stop: Some(-1),
                step: None,
            }])
            .unwrap();
        let tail = t
            .index(&[IndexItem::Slice {
                start: Some(1),
                stop: None,
                step: None,
            }])
            .unwrap();
        tail.assign(&head).unwrap();
        assert_eq!(ints(&t), vec![0, 0, 1, 2, 3]);

        let grid = Tensor::zeros(DType::Int32, &[2, 3]).unwrap();
        grid.assign(&Tensor::from_vec(vec![7i32, 8, 9], &[3]).unwrap())
            .unwrap();
        assert_eq!(ints(&grid), vec![7, 8, 9, 7, 8, 9]);
    }

    #[test]
    fn failed_assignments_write_nothing() {
        let t = arange(3, &[3]);
        let wrong = arange(2, &[2]);
        assert!(t.assign(&wrong).is_err());
        assert!(t.to_readonly().assign(&arange(3, &[3])).is_err());
        assert!(t.fill(Scalar::Int(1 << 40)).is_ok());
        let small = Tensor::zeros(DType::Int8, &[2]).unwrap();
        assert!(small.fill(Scalar::Int(128)).is_err());
        assert_eq!(ints(&small), vec![0, 0]);
        assert_eq!(ints(&t), vec![1 << 40; 3]);
    }

    #[test]
    fn offsets_of_zero_dim_and_empty_tensors() {
        let scalar = Tensor::from_vec(vec![42i64], &[]).unwrap();
        assert_eq!(scalar.item().unwrap(), Scalar::Int(42));
        let empty = Tensor::zeros(DType::Float32, &[0, 3]).unwrap();
        assert!(empty.to_scalars().unwrap().is_empty());
        assert!(empty.item().is_err());
    }
}
