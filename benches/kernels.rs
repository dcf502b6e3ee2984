//! The copy and cast kernels on their own, without Python: medians of
//! repeated runs, in GB/s of source data.
//!
//!     cargo bench --bench kernels
//!
//! A plain harness (no framework), so that it builds with the crate's own
//! dependencies; `benches/compare.py` compares against torch and NumPy.

use dlbridge::{DType, IndexItem, Tensor};
use std::hint::black_box;
use std::time::Instant;

fn median_seconds(mut run: impl FnMut()) -> f64 {
    run();
    let mut samples: Vec<f64> = (0..9)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64()
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn report(name: &str, source: &Tensor, run: impl FnMut()) {
    let seconds = median_seconds(run);
    let gigabytes = source.nbytes() as f64 / 1e9;
    println!(
        "{name:<48} {:>8.2} ms {:>7.2} GB/s",
        seconds * 1e3,
        gigabytes / seconds
    );
}

fn main() {
    let n = 25 << 20; // 100 MB of float32
    let values: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let flat = Tensor::from_vec(values, &[n]).unwrap();
    let square = Tensor::from_vec(
        (0..4096 * 4096).map(|i| i as f32).collect::<Vec<_>>(),
        &[4096, 4096],
    )
    .unwrap();
    let transposed = square.permute(&[1, 0]).unwrap();
    let every_other = flat
        .index(&[IndexItem::Slice {
            start: None,
            stop: None,
            step: Some(2),
        }])
        .unwrap();

    report("contiguous copy (memcpy), 100 MB f32", &flat, || {
        black_box(flat.deep_copy().unwrap());
    });
    report(
        "transposed 4096x4096 f32 to contiguous",
        &transposed,
        || {
            black_box(transposed.deep_copy().unwrap());
        },
    );
    report("strided (step 2) f32 to contiguous", &every_other, || {
        black_box(every_other.deep_copy().unwrap());
    });
    report("cast f32 -> f16 (F16C), 100 MB", &flat, || {
        black_box(flat.to_dtype(DType::Float16).unwrap());
    });
    report("cast f32 -> f64, 100 MB", &flat, || {
        black_box(flat.to_dtype(DType::Float64).unwrap());
    });
    report("cast transposed f32 -> i32", &transposed, || {
        black_box(transposed.to_dtype(DType::Int32).unwrap());
    });
    report("cast strided (step 2) f32 -> f16", &every_other, || {
        black_box(every_other.to_dtype(DType::Float16).unwrap());
    });
    let halves = flat.to_dtype(DType::Float16).unwrap();
    report("cast f16 -> f32 (F16C), 50 MB", &halves, || {
        black_box(halves.to_dtype(DType::Float32).unwrap());
    });
    let doubles = flat.to_dtype(DType::Float64).unwrap();
    report("cast f64 -> f32, 200 MB", &doubles, || {
        black_box(doubles.to_dtype(DType::Float32).unwrap());
    });
    report(
        "cast f64 -> f16 (round to odd, F16C), 200 MB",
        &doubles,
        || {
            black_box(doubles.to_dtype(DType::Float16).unwrap());
        },
    );
    report("cast f64 -> bf16 (round to odd), 200 MB", &doubles, || {
        black_box(doubles.to_dtype(DType::BFloat16).unwrap());
    });
    let longs = flat.to_dtype(DType::Int64).unwrap();
    report("cast i64 -> f64, 200 MB", &longs, || {
        black_box(longs.to_dtype(DType::Float64).unwrap());
    });
    report("cast i64 -> f32, 200 MB", &longs, || {
        black_box(longs.to_dtype(DType::Float32).unwrap());
    });
}
