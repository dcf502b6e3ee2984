//! Element-wise equality, with PyTorch's meaning of `==`: both sides are
//! broadcast to a common shape and promoted to a common dtype, and the result
//! is a `bool` tensor.

use crate::borrow::Participation;
use crate::dtype::{DType, Kind};
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
    /// [`Tensor::eq_elementwise`] (so NaN differs from everything). Fails
    /// with [`Error::NotBroadcastable`] when the shapes do not broadcast
    /// together, or when Rust code holds a mutable borrow of either side.
    ///
    /// ```
    /// use dlbridge::{Error, Tensor};
    ///
    /// let a = Tensor::from_vec(vec![f64::NAN, 0.0], &[2])?;
    /// let b = Tensor::from_vec(vec![f64::NAN, -0.0], &[2])?;
    /// let differ = a.ne_elementwise(&b)?;
    /// assert_eq!(&*differ.as_slice::<bool>()?, &[true, false]);
    ///
    /// let three = Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3])?;
    /// assert!(matches!(a.ne_elementwise(&three), Err(Error::NotBroadcastable { .. })));
    /// # Ok::<(), Error>(())
    /// ```
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
        // uint64 and a signed type meet at int64 (torch's promotion), which
        // would wrap uint64 values past 2**63 onto negative ones; integers
        // are compared exactly instead, each read in its own dtype.
        let exact_integers = self.dtype().kind() == Kind::Int
            && other.dtype().kind() == Kind::Int
            && (self.dtype() == DType::UInt64) != (other.dtype() == DType::UInt64);
        let common = self.dtype().promote(other.dtype());
        let as_common = |tensor: &Tensor| -> Result<Tensor> {
            if exact_integers || tensor.dtype() == common {
                Ok(tensor.clone())
            } else {
                // A copy of the operand's own size, never of the broadcast
                // shape: `t == 1.0` converts one value.
                tensor.to_dtype_with(common, participation)
            }
        };
        let (left, right) = (as_common(self)?, as_common(other)?);
        let _reading = (
            left.hold(participation, false)?,
            right.hold(participation, false)?,
        );
        let (left, right) = (left.broadcast_to(&shape)?, right.broadcast_to(&shape)?);
        let result = Tensor::zeros(DType::Bool, &shape)?;
        let out = result.data_ptr().cast_mut();
        let mut i = 0;
        crate::copy::for_each_offset_pair(left.layout(), right.layout(), |l, r| {
            // SAFETY: `l` and `r` are elements of the two validated layouts,
            // read through raw pointers; `result` is fresh, contiguous and
            // unaliased, and the walk visits its `numel` elements in order.
            unsafe {
                let equal = Scalar::read(left.element_ptr(l), left.dtype())
                    == Scalar::read(right.element_ptr(r), right.dtype());
                out.add(i).write(u8::from(equal == want_equal));
            }
            i += 1;
        });
        Ok(result)
    }

    /// Whether any element is non-zero (`True` for `bool`), as torch's
    /// `any()`; `false` for an empty tensor. With
    /// [`Tensor::eq_elementwise`] it answers "do these differ anywhere?".
    /// Fails only when Rust code holds a mutable borrow of the memory.
    ///
    /// ```
    /// use dlbridge::{DType, Error, Tensor};
    ///
    /// let a = Tensor::from_vec(vec![1i32, 2, 3], &[3])?;
    /// let b = Tensor::from_vec(vec![1.0f32, 2.0, 3.5], &[3])?;
    /// assert!(a.ne_elementwise(&b)?.any()?);
    /// assert!(!a.ne_elementwise(&a)?.any()?);
    /// assert!(!Tensor::zeros(DType::Float32, &[0])?.any()?);
    ///
    /// let writing = a.as_slice_mut::<i32>()?;
    /// assert!(matches!(a.any(), Err(Error::AlreadyBorrowed { .. })));
    /// drop(writing);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn any(&self) -> Result<bool> {
        self.any_with(Participation::Register)
    }

    /// [`Tensor::any`], registering its borrow or only checking for one.
    pub(crate) fn any_with(&self, participation: Participation) -> Result<bool> {
        let _reading = self.hold(participation, false)?;
        let mut any = false;
        crate::copy::for_each_offset(self.layout(), |offset| {
            // SAFETY: `offset` is an element of this tensor's validated
            // layout, read through a raw pointer.
            any =
                any || unsafe { Scalar::read(self.element_ptr(offset), self.dtype()) }.is_nonzero();
        });
        Ok(any)
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
        // uint64 past 2**63 is not a negative int64.
        let big = Tensor::from_vec(vec![u64::MAX, 1 << 63], &[2]).unwrap();
        let signed = Tensor::from_vec(vec![-1i64, i64::MIN], &[2]).unwrap();
        assert!(!big.eq_elementwise(&signed).unwrap().any().unwrap());
        let one = Tensor::from_vec(vec![1i8], &[1]).unwrap();
        let small = Tensor::from_vec(vec![1u64], &[1]).unwrap();
        assert!(small.eq_elementwise(&one).unwrap().any().unwrap());
        let wrong = Tensor::from_vec(vec![1i32, 2, 3], &[3]).unwrap();
        assert!(matches!(
            a.eq_elementwise(&wrong),
            Err(Error::NotBroadcastable { .. })
        ));
        assert!(!Tensor::zeros(DType::Int8, &[0]).unwrap().any().unwrap());
    }
}
