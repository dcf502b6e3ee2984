//! PyTorch-style printing: `tensor([10,  2,  3])`, `tensor(5)`,
//! `tensor([1, 2], dtype=dlbridge.int32)`, with the same widths, float modes
//! and `...` summaries as `torch/_tensor_str.py` under default print options.
//!
//! The one place in the core that writes Python spellings (`True`, a tuple
//! `size=(0, 2)`, `dtype=dlbridge.int32`), and on purpose: a tensor prints as
//! PyTorch's `repr` of the same tensor would, with dlbridge's module for the
//! dtype, so that the Python `repr` and the Rust `Display` are one text and
//! either reads like the PyTorch tensor it stands for.

use crate::borrow::Participation;
use crate::dtype::{DType, Kind};
use crate::layout::IndexItem;
use crate::scalar::Scalar;
use crate::tensor::Tensor;
use std::fmt;

/// Tensors with more elements than this are summarized (`PRINT_OPTS.threshold`).
const THRESHOLD: usize = 1000;
/// Elements kept at each end of a summarized dimension (`PRINT_OPTS.edgeitems`).
const EDGE_ITEMS: usize = 3;
/// Digits after the point (`PRINT_OPTS.precision`).
const PRECISION: usize = 4;
/// Line width (`PRINT_OPTS.linewidth`).
const LINE_WIDTH: usize = 80;

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Display` is public core API that any thread may call, so it
        // registers its borrow like the other core reads.
        f.write_str(&render(self, Participation::Register))
    }
}

/// The dtypes PyTorch leaves out of the repr: those it infers from the
/// values, the default of each kind.
fn has_default_dtype(dtype: DType) -> bool {
    DType::default_for(dtype.kind()) == dtype
}

/// The printed form of `tensor`, registering a shared borrow for the whole
/// print or (for `repr()` from Python) only checking that none conflicts.
pub(crate) fn render(tensor: &Tensor, participation: Participation) -> String {
    // One look at the registry for the whole print, so the reads below cannot
    // fail half-way; a tensor mutably borrowed by Rust code prints as such.
    let Ok(_reading) = tensor.hold(participation, false) else {
        return format!("tensor(<mutably borrowed>, shape={:?})", tensor.shape());
    };
    let prefix = "tensor(";
    let indent = prefix.len();
    let mut suffixes = Vec::new();
    // Python spellings from here on, on purpose (see the module
    // documentation).
    let body = if tensor.numel() == 0 {
        if tensor.ndim() != 1 {
            suffixes.push(format!("size={}", python_tuple(tensor.shape())));
        }
        if tensor.dtype() != DType::Float32 {
            suffixes.push(format!("dtype=dlbridge.{}", tensor.dtype()));
        }
        "[]".to_owned()
    } else {
        if !has_default_dtype(tensor.dtype()) {
            suffixes.push(format!("dtype=dlbridge.{}", tensor.dtype()));
        }
        let summarize = tensor.numel() > THRESHOLD;
        let sample = if summarize {
            summarized_values(tensor)
        } else {
            values_of(tensor)
        };
        let formatters = Formatters::new(tensor.dtype(), &sample);
        format_nested(tensor, indent, summarize, &formatters)
    };
    let mut out = String::from(prefix);
    out.push_str(&body);
    let mut last_line_len = match out.rfind('\n') {
        Some(newline) => out.len() - newline + 1,
        None => out.len() + 2,
    };
    for suffix in suffixes {
        if last_line_len + suffix.len() + 2 > LINE_WIDTH {
            out.push_str(",\n");
            out.push_str(&" ".repeat(indent));
            last_line_len = indent + suffix.len();
        } else {
            out.push_str(", ");
            last_line_len += suffix.len() + 2;
        }
        out.push_str(&suffix);
    }
    out.push(')');
    out
}

/// `shape` as a Python tuple, `(2,)` or `(0, 2)`, as PyTorch's `size=` shows
/// it.
fn python_tuple(shape: &[usize]) -> String {
    match shape {
        [single] => format!("({single},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(usize::to_string).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// The values of a tensor `render` has looked at the registry for. They are
/// read without another look: a check-only print must not fail (or panic)
/// because a borrow was taken after its check.
fn values_of(tensor: &Tensor) -> Vec<Scalar> {
    tensor
        .read_scalars()
        .expect("a print reads at most a few thousand values")
}

/// The values a summarized print shows: the first and last `EDGE_ITEMS` of
/// every long dimension (`get_summarized_data`).
fn summarized_values(tensor: &Tensor) -> Vec<Scalar> {
    if tensor.ndim() == 0 {
        return values_of(tensor);
    }
    edge_indices(tensor.shape()[0])
        .into_iter()
        .flatten()
        .flat_map(|i| summarized_values(&row(tensor, i)))
        .collect()
}

/// The indices a summarized dimension shows: all of them, or the edges with a
/// `None` where the `...` goes.
fn edge_indices(size: usize) -> Vec<Option<usize>> {
    if size > 2 * EDGE_ITEMS {
        (0..EDGE_ITEMS)
            .map(Some)
            .chain(std::iter::once(None))
            .chain((size - EDGE_ITEMS..size).map(Some))
            .collect()
    } else {
        (0..size).map(Some).collect()
    }
}

/// [`edge_indices`] when summarizing, else every index.
fn edge_indices_if(summarize: bool, size: usize) -> Vec<Option<usize>> {
    if summarize {
        edge_indices(size)
    } else {
        (0..size).map(Some).collect()
    }
}

fn row(tensor: &Tensor, i: usize) -> Tensor {
    tensor
        .index(&[IndexItem::Int(i as isize)])
        .expect("row index is within the first dimension")
}

fn format_nested(
    tensor: &Tensor,
    indent: usize,
    summarize: bool,
    formatters: &Formatters,
) -> String {
    match tensor.ndim() {
        0 => formatters.format(values_of(tensor)[0]),
        1 => format_vector(tensor, indent, summarize, formatters),
        ndim => {
            let slices: Vec<String> = edge_indices_if(summarize, tensor.shape()[0])
                .into_iter()
                .map(|i| match i {
                    Some(i) => format_nested(&row(tensor, i), indent + 1, summarize, formatters),
                    None => "...".to_owned(),
                })
                .collect();
            let separator = format!(",{}{}", "\n".repeat(ndim - 1), " ".repeat(indent + 1));
            format!("[{}]", slices.join(&separator))
        }
    }
}

fn format_vector(
    tensor: &Tensor,
    indent: usize,
    summarize: bool,
    formatters: &Formatters,
) -> String {
    let element_length = formatters.width() + 2;
    let per_line = (LINE_WIDTH.saturating_sub(indent) / element_length).max(1);
    // Only the printed elements are read: a summarized vector may be far
    // larger than memory (a broadcast view).
    let data: Vec<String> = edge_indices_if(summarize, tensor.shape()[0])
        .into_iter()
        .map(|i| match i {
            Some(i) => formatters.format(values_of(&row(tensor, i))[0]),
            None => " ...".to_owned(),
        })
        .collect();
    let lines: Vec<String> = data.chunks(per_line).map(|line| line.join(", ")).collect();
    format!(
        "[{}]",
        lines.join(&format!(",\n{}", " ".repeat(indent + 1)))
    )
}

/// One formatter for real values, or two (real and imaginary parts) for
/// complex ones, as PyTorch does.
struct Formatters {
    real: Formatter,
    imag: Option<Formatter>,
}

impl Formatters {
    fn new(dtype: DType, values: &[Scalar]) -> Formatters {
        if dtype.is_complex() {
            let part =
                |pick: fn(Scalar) -> f64| -> Vec<f64> { values.iter().map(|&v| pick(v)).collect() };
            Formatters {
                real: Formatter::floating(&part(real_part)),
                imag: Some(Formatter::floating(&part(imag_part))),
            }
        } else {
            Formatters {
                real: Formatter::new(dtype, values),
                imag: None,
            }
        }
    }

    fn width(&self) -> usize {
        self.real.width + self.imag.as_ref().map_or(0, |imag| imag.width + 1)
    }

    fn format(&self, value: Scalar) -> String {
        match &self.imag {
            None => self.real.format(value),
            Some(imag) => {
                let re = self.real.format(Scalar::Float(real_part(value)));
                let im = format!("{}j", imag.format(Scalar::Float(imag_part(value))));
                let im = im.trim_start();
                if im.starts_with(['+', '-']) {
                    format!("{re}{im}")
                } else {
                    format!("{re}+{im}")
                }
            }
        }
    }
}

fn real_part(value: Scalar) -> f64 {
    match value {
        Scalar::Complex(re, _) | Scalar::Float(re) => re,
        _ => 0.0,
    }
}

fn imag_part(value: Scalar) -> f64 {
    match value {
        Scalar::Complex(_, im) => im,
        _ => 0.0,
    }
}

/// `torch._tensor_str._Formatter`: chooses integer, fixed or scientific mode
/// from the values and pads every element to one width.
struct Formatter {
    floating: bool,
    int_mode: bool,
    sci_mode: bool,
    width: usize,
}

impl Formatter {
    fn new(dtype: DType, values: &[Scalar]) -> Formatter {
        if dtype.kind() == Kind::Float {
            let floats: Vec<f64> = values.iter().map(|&v| real_part(v)).collect();
            return Formatter::floating(&floats);
        }
        let width = values
            .iter()
            .map(|&v| python_text(v).len())
            .max()
            .unwrap_or(1)
            .max(1);
        Formatter {
            floating: false,
            int_mode: true,
            sci_mode: false,
            width,
        }
    }

    fn floating(values: &[f64]) -> Formatter {
        let mut formatter = Formatter {
            floating: true,
            int_mode: true,
            sci_mode: false,
            width: 1,
        };
        let finite: Vec<f64> = values
            .iter()
            .copied()
            .filter(|v| v.is_finite() && *v != 0.0)
            .collect();
        if finite.is_empty() {
            return formatter;
        }
        let abs = finite.iter().map(|v| v.abs());
        let min = abs.clone().fold(f64::INFINITY, f64::min);
        let max = abs.fold(0.0, f64::max);
        formatter.int_mode = finite.iter().all(|v| v.ceil() == *v);
        let wide_range = max / min > 1000.0 || max > 1.0e8;
        formatter.sci_mode = if formatter.int_mode {
            wide_range
        } else {
            wide_range || min < 1.0e-4
        };
        formatter.width = finite
            .iter()
            .map(|&v| {
                if formatter.sci_mode {
                    sci(v).len()
                } else if formatter.int_mode {
                    format!("{v:.0}").len() + 1
                } else {
                    format!("{v:.PRECISION$}").len()
                }
            })
            .max()
            .unwrap_or(1);
        formatter
    }

    fn format(&self, value: Scalar) -> String {
        let text = if self.floating {
            let v = real_part(value);
            if self.sci_mode {
                sci(v)
            } else if self.int_mode {
                if v.is_finite() {
                    format!("{v:.0}.")
                } else {
                    nonfinite(v)
                }
            } else if v.is_finite() {
                format!("{v:.PRECISION$}")
            } else {
                nonfinite(v)
            }
        } else {
            python_text(value)
        };
        format!("{text:>width$}", width = self.width)
    }
}

/// An integer or boolean as PyTorch prints it: Python's `True` and `False`.
fn python_text(value: Scalar) -> String {
    match value {
        Scalar::Bool(true) => "True".to_owned(),
        Scalar::Bool(false) => "False".to_owned(),
        other => other.to_string(),
    }
}

fn nonfinite(v: f64) -> String {
    if v.is_nan() {
        "nan".to_owned()
    } else if v > 0.0 {
        "inf".to_owned()
    } else {
        "-inf".to_owned()
    }
}

/// Python's `"{:.4e}"`: `1.2346e+05`, with a signed exponent of at least two
/// digits.
fn sci(v: f64) -> String {
    if !v.is_finite() {
        return nonfinite(v);
    }
    let rust = format!("{v:.PRECISION$e}");
    let (mantissa, exponent) = rust.split_once('e').expect("{:e} output has an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} exponent is an integer");
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(values: Vec<i64>, shape: &[usize]) -> Tensor {
        Tensor::from_vec(values, shape).unwrap()
    }

    #[test]
    fn integers_are_padded_to_one_width() {
        assert_eq!(
            ints(vec![10, 2, 3], &[3]).to_string(),
            "tensor([10,  2,  3])"
        );
        assert_eq!(ints(vec![5], &[]).to_string(), "tensor(5)");
        let t = Tensor::from_vec(vec![1i32, 2], &[2]).unwrap();
        assert_eq!(t.to_string(), "tensor([1, 2], dtype=dlbridge.int32)");
        assert_eq!(
            ints((0..6).collect(), &[2, 3]).to_string(),
            "tensor([[0, 1, 2],\n        [3, 4, 5]])"
        );
    }

    #[test]
    fn floats_choose_torch_modes() {
        let t = |v: Vec<f32>| Tensor::from_vec(v.clone(), &[v.len()]).unwrap().to_string();
        assert_eq!(t(vec![1.0, 2.0]), "tensor([1., 2.])");
        assert_eq!(t(vec![1.5, 2.0]), "tensor([1.5000, 2.0000])");
        assert_eq!(t(vec![1.0e-5, 1.0]), "tensor([1.0000e-05, 1.0000e+00])");
        assert_eq!(t(vec![0.0, -1.5]), "tensor([ 0.0000, -1.5000])");
        assert_eq!(t(vec![]), "tensor([])");
    }

    #[test]
    fn bools_empty_and_large_tensors() {
        let b = Tensor::from_vec(vec![true, false], &[2]).unwrap();
        assert_eq!(b.to_string(), "tensor([ True, False])");
        let empty = Tensor::zeros(DType::Int64, &[0, 2]).unwrap();
        assert_eq!(
            empty.to_string(),
            "tensor([], size=(0, 2), dtype=dlbridge.int64)"
        );
        let big = ints((0..2000).collect(), &[2000]);
        assert_eq!(
            big.to_string(),
            "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])"
        );
    }

    #[test]
    fn scientific_notation_matches_python() {
        assert_eq!(sci(123456.0), "1.2346e+05");
        assert_eq!(sci(1.0e-5), "1.0000e-05");
        assert_eq!(sci(-2.5e100), "-2.5000e+100");
    }
}
