//! Element-wise equality, with PyTorch's meaning of `==`: both sides are
//! broadcast to a common shape and promoted to a common dtype, and the result
//! is a `bool` tensor.

use crate::borrow::Participation;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::layout;
use crate::scalar::Scalar;
use crate::tensor::Tensor;

impl Tensor {
    /// `self == other`, element by element: a fresh `bool` tensor of the
    /// broadcast shape. Values are compared after promotion to
    /// [`DType::promote`] of the two dtypes, as torch does; NaN equals
    /// nothing, `-0.0` equals `0.0`.
    ///
    /// ```
    /// use dlbridge::{Scalar, Tensor};
    ///
    /// let a = Tensor::from_vec(vec![1i64, 2, 3], &[3])?;
    /// let b = Tensor::from_vec(vec![2.0f32], &[1])?;
    /// let equal = a.eq_elementwise(&b)?;
    /// assert_eq!(
    ///     equal.to_scalars()?,
    ///     vec![Scalar::Bool(false), Scalar::Bool(true), Scalar::Bool(false)]
    /// );
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn eq_elementwise(&self, other: &Tensor) -> Result<Tensor> {
        self.compare_with(other, true, Participation::Register)
    }

    /// `self != other`, element by element: the negation of
    /// [`Tensor::eq_elementwise`] (so NaN differs from everything).
    pub fn ne_elementwise(&self, other: &Tensor) -> Result<Tensor> {
        self.compare_with(other, false, Participation::Register)
    }

    /// `==` (`want_equal`) or `!=`, registering borrows or only checking
    /// for them (see [`Participation`]).
    pub(crate) fn compare_with(
        &self,
        other: &Tensor,
        want_equal: bool,
        participation: Participation,
    ) -> Result<Tensor> {
        let shape = layout::broadcast_shapes(self.shape(), other.shape()).ok_or_else(|| {
            Error::NotBroadcastable {
                from: other.shape().to_vec(),
                to: self.shape().to_vec(),
            }
        })?;
        let common = self.dtype().promote(other.dtype());
        // Fresh, contiguous copies in the common dtype: every pair of
        // elements is then read at the same index of two plain buffers.
        let left = self
            .broadcast_to(&shape)?
            .to_dtype_with(common, participation)?;
        let right = other
            .broadcast_to(&shape)?
            .to_dtype_with(common, participation)?;
        let result = Tensor::zeros(DType::Bool, &shape)?;
        let itemsize = common.itemsize();
        let (l, r, out) = (
            left.data_ptr(),
            right.data_ptr(),
            result.data_ptr().cast_mut(),
        );
        for i in 0..result.numel() {
            // SAFETY: `left`, `right` and `result` are fresh contiguous
            // tensors of `numel` elements that nothing else references, so
            // element `i` of each is in bounds and unaliased.
            unsafe {
                let equal = Scalar::read(l.add(i * itemsize), common)
                    == Scalar::read(r.add(i * itemsize), common);
                out.add(i).write(u8::from(equal == want_equal));
            }
        }
        Ok(result)
    }

    /// Whether any element is non-zero (`True` for `bool`), as torch's
    /// `any()`; `false` for an empty tensor.
    pub fn any(&self) -> Result<bool> {
        self.any_with(Participation::Register)
    }

    /// [`Tensor::any`], registering its borrow or only checking for one.
    pub(crate) fn any_with(&self, participation: Participation) -> Result<bool> {
        Ok(self
            .to_scalars_with(participation)?
            .iter()
            .any(|value| value.cast_to(DType::Bool) == Scalar::Bool(true)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_broadcasts_promotes_and_follows_ieee() {
        let a = Tensor::from_vec(vec![0.0f64, -0.0, f64::NAN, 1.5], &[2, 2]).unwrap();
        let b = Tensor::from_vec(vec![-0.0f32, 0.0], &[2]).unwrap();
        let equal = a.eq_elementwise(&b).unwrap();
        assert_eq!(equal.shape(), &[2, 2]);
        assert_eq!(
            equal.to_scalars().unwrap(),
            [true, true, false, false].map(Scalar::Bool).to_vec()
        );
        let nan = Tensor::from_vec(vec![f64::NAN], &[1]).unwrap();
        assert!(!nan.eq_elementwise(&nan).unwrap().any().unwrap());
        assert!(nan.ne_elementwise(&nan).unwrap().any().unwrap());
        // uint8 255 and int8 -1 meet at int16, where they differ.
        let u = Tensor::from_vec(vec![255u8], &[1]).unwrap();
        let i = Tensor::from_vec(vec![-1i8], &[1]).unwrap();
        assert!(!u.eq_elementwise(&i).unwrap().any().unwrap());
        let wrong = Tensor::from_vec(vec![1i32, 2, 3], &[3]).unwrap();
        assert!(matches!(
            a.eq_elementwise(&wrong),
            Err(Error::NotBroadcastable { .. })
        ));
        assert!(!Tensor::zeros(DType::Int8, &[0]).unwrap().any().unwrap());
    }
}
