//! `arange`, with PyTorch's rules (`arange_out` in
//! aten/src/ATen/native/RangeFactories.cpp) and exact arithmetic.
//!
//! The length is computed and checked first, the tensor allocated, and the
//! values written straight into it: the work and memory are those of the
//! result, and a length no tensor can have is an error before anything is
//! allocated.

use crate::dtype::{DType, Kind};
use crate::error::{Error, Result};
use crate::scalar::Scalar;
use crate::tensor::Tensor;

impl Tensor {
    /// The values `start, start + step, ...` up to `end` (excluded), of
    /// `dtype`, as PyTorch's `arange`.
    ///
    /// For an integer `dtype` the values are computed in 64-bit integers as
    /// PyTorch does: float `start` and `step` truncate toward zero (so
    /// `arange(0, 2, 0.5)` as int64 is `[0, 0, 0, 0]`, as in PyTorch and
    /// NumPy), and an integer argument outside `i64` is refused. For other
    /// dtypes they are computed in float64 and rounded once to `dtype`. The
    /// length is exact when all three arguments are integers (so the values
    /// are exact up to the `i64` bounds), else `ceil((end - start) / step)`
    /// in float64.
    ///
    /// Fails with [`Error::InvalidShape`] (PyTorch's `RuntimeError`s: a step
    /// that is zero or not finite, a start or end that is not finite, a step
    /// whose sign cannot reach `end`, an integer outside `i64`), with
    /// [`Error::TooLarge`] for a length whose bytes do not fit `isize`, and
    /// with [`Error::OutOfMemory`].
    ///
    /// ```
    /// use dlbridge::{DType, Scalar, Tensor};
    ///
    /// let t = Tensor::arange(Scalar::Int(1), Scalar::Int(10), Scalar::Int(4), DType::Int64)?;
    /// assert_eq!(t.to_scalars()?, [Scalar::Int(1), Scalar::Int(5), Scalar::Int(9)]);
    /// let top = Tensor::arange(
    ///     Scalar::Int(i64::MAX - 2),
    ///     Scalar::Int(i64::MAX),
    ///     Scalar::Int(1),
    ///     DType::Int64,
    /// )?;
    /// assert_eq!(top.to_scalars()?, [Scalar::Int(i64::MAX - 2), Scalar::Int(i64::MAX - 1)]);
    /// let halves = Tensor::arange(Scalar::Int(0), Scalar::Int(2), Scalar::Float(0.5), DType::Int64)?;
    /// assert_eq!(halves.to_scalars()?, [Scalar::Int(0); 4]);
    /// assert!(Tensor::arange(Scalar::Int(0), Scalar::Int(1), Scalar::Float(f64::NAN), DType::Float32).is_err());
    /// # Ok::<(), dlbridge::Error>(())
    /// ```
    pub fn arange(start: Scalar, end: Scalar, step: Scalar, dtype: DType) -> Result<Tensor> {
        let refuse = |reason: String| Err(Error::InvalidShape { reason });
        for value in [start, end, step] {
            if !matches!(value, Scalar::Int(_) | Scalar::UInt(_) | Scalar::Float(_)) {
                return refuse(format!("arange() takes real numbers, got {value}"));
            }
        }
        let integer = matches!(dtype.kind(), Kind::Int);
        // PyTorch converts the arguments to the kernel's type first.
        let integers = if integer {
            Some((as_i64(start)?, as_i64(step)?))
        } else {
            None
        };
        if integer {
            as_i64(end)?;
        }
        let (first, last, delta) = (start.as_f64(), end.as_f64(), step.as_f64());
        // Then its order of checks.
        if !delta.is_finite() {
            return refuse(format!("step must be finite but got {delta}"));
        }
        if delta == 0.0 {
            return refuse("step must be nonzero".into());
        }
        if !(first.is_finite() && last.is_finite()) {
            return refuse(format!("unsupported range: {first} -> {last}"));
        }
        if (delta > 0.0 && last < first) || (delta < 0.0 && last > first) {
            return refuse("upper bound and larger bound inconsistent with step sign".into());
        }
        let length = match (exact(start), exact(end), exact(step)) {
            (Some(first), Some(last), Some(delta)) => {
                // ceil((last - first) / delta), exactly: every operand fits
                // i128 with room to spare.
                let span = last - first;
                let count = span / delta + i128::from(span % delta != 0);
                u64::try_from(count.max(0)).unwrap_or(u64::MAX)
            }
            _ => {
                let count = ((last - first) / delta).ceil();
                if !(count >= 0.0 && count <= i64::MAX as f64) {
                    return refuse("invalid size, possible overflow?".into());
                }
                count as u64
            }
        };
        // `uninit` refuses a length whose bytes do not fit `isize`.
        let length = usize::try_from(length).unwrap_or(usize::MAX);
        let tensor = Tensor::uninit(dtype, &[length])?;
        let value = |i: usize| match integers {
            // Exact: within [start, end) the value fits i64 when all three
            // are integers; with a truncated float step it stays between
            // `first` and `first + (length - 1) * delta`, which wraps in i64
            // as PyTorch's kernel does.
            Some((first, delta)) => {
                Scalar::Int((i128::from(first) + i as i128 * i128::from(delta)) as i64)
            }
            None => Scalar::Float(first + i as f64 * delta),
        };
        let base = tensor.data_ptr().cast_mut();
        for i in 0..length {
            // SAFETY: `tensor` was just allocated C-contiguous with `length`
            // elements and is not shared yet: element `i` is in bounds and no
            // one else reads or writes it.
            unsafe {
                value(i)
                    .cast_to(dtype)
                    .write(base.add(i * dtype.itemsize()), dtype)
            };
        }
        Ok(tensor)
    }
}

/// An integer argument, exactly; `None` for a float.
fn exact(value: Scalar) -> Option<i128> {
    match value {
        Scalar::Int(v) => Some(v.into()),
        Scalar::UInt(v) => Some(v.into()),
        _ => None,
    }
}

/// An argument as PyTorch's integer kernels take it (`Scalar::to<int64_t>`):
/// floats truncated toward zero, integers outside `i64` refused.
fn as_i64(value: Scalar) -> Result<i64> {
    let overflow = || Error::InvalidShape {
        reason: format!("value cannot be converted to type int64_t without overflow: {value}"),
    };
    match value {
        Scalar::Int(v) => Ok(v),
        Scalar::UInt(v) => i64::try_from(v).map_err(|_| overflow()),
        Scalar::Float(v) if v >= -(2f64.powi(63)) && v < 2f64.powi(63) => Ok(v.trunc() as i64),
        _ => Err(overflow()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(values: &[i64]) -> Vec<Scalar> {
        values.iter().copied().map(Scalar::Int).collect()
    }

    #[test]
    fn integer_ranges_are_exact_at_the_bounds() {
        let min = Tensor::arange(
            Scalar::Int(i64::MIN),
            Scalar::Int(i64::MAX),
            Scalar::Int(1 << 62),
            DType::Int64,
        )
        .unwrap();
        assert_eq!(
            min.to_scalars().unwrap(),
            ints(&[i64::MIN, -(1 << 62), 0, 1 << 62])
        );
        let down = Tensor::arange(
            Scalar::Int(i64::MAX),
            Scalar::Int(i64::MIN),
            Scalar::Int(i64::MIN),
            DType::Int64,
        )
        .unwrap();
        assert_eq!(down.to_scalars().unwrap(), ints(&[i64::MAX, -1]));
    }

    #[test]
    fn integers_outside_i64_are_refused_for_integer_dtypes() {
        let huge = Scalar::from_u64(u64::MAX);
        let error = Tensor::arange(Scalar::Int(0), huge, Scalar::Int(1 << 62), DType::Int64);
        assert!(matches!(error, Err(Error::InvalidShape { .. })));
        let start = Scalar::from_u64(1 << 63);
        let error = Tensor::arange(
            start,
            Scalar::from_u64((1 << 63) + 2),
            Scalar::Int(1),
            DType::Int64,
        );
        assert!(matches!(error, Err(Error::InvalidShape { .. })));
    }

    #[test]
    fn lengths_past_memory_fail_before_anything_is_written() {
        let error = Tensor::arange(
            Scalar::Int(0),
            Scalar::Int(1 << 62),
            Scalar::Int(1),
            DType::Int64,
        );
        assert!(matches!(error, Err(Error::TooLarge { .. })));
        let error = Tensor::arange(
            Scalar::Float(0.0),
            Scalar::Float(1e300),
            Scalar::Float(1.0),
            DType::Float32,
        );
        assert!(matches!(error, Err(Error::InvalidShape { .. })));
    }

    #[test]
    fn fractional_steps_truncate_for_integer_dtypes() {
        let t = Tensor::arange(
            Scalar::Float(0.7),
            Scalar::Float(3.2),
            Scalar::Float(1.0),
            DType::Int32,
        )
        .unwrap();
        assert_eq!(t.to_scalars().unwrap(), ints(&[0, 1, 2]));
        for step in [f64::INFINITY, f64::NAN, 0.0] {
            let error = Tensor::arange(
                Scalar::Int(0),
                Scalar::Int(1),
                Scalar::Float(step),
                DType::Float64,
            );
            assert!(matches!(error, Err(Error::InvalidShape { .. })), "{step}");
        }
    }
}
