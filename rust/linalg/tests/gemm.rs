//! GEMM on every SIMD tier this CPU supports, against a float64 reference with the
//! bound of `src/gemm.rs` (`|Ĉ - C| <= γ_k |A||B|`, checked as `2 k u (|A||B|)_ij`
//! to cover the reference's own rounding): awkward sizes around the register tile
//! and the cache blocks, every operand layout (row-major, column-major, strided),
//! alpha/beta, one and two threads, and the k-split path.

#[path = "../../core/tests/common.rs"]
mod common;

use common::Rng;
use mlkern_core::cpu::{self, available_tiers};
use mlkern_core::threads;
use mlkern_linalg::{gemm, MatMut, MatRef, Parallelism, Scalar};

/// Tests switch the global tier and pool size: one at a time.
#[path = "support/serial.rs"]
mod serial;
use serial::SERIAL;

#[derive(Clone, Copy, Debug)]
enum Layout {
    Row,
    Col,
    /// Row-major inside a buffer with a padded row stride and a column stride of 2.
    Strided,
    /// Row-major, rows padded by one element, starting one element into the buffer
    /// (unaligned rows: what the in-place skinny path reads).
    RowPadded,
    /// Column-major, columns padded by one element, starting one element in.
    ColPadded,
}

/// A `(rows, cols)` matrix stored with `layout`; returns (buffer, offset, rs, cs).
fn store<T: Copy + Default>(vals: &[T], rows: usize, cols: usize, layout: Layout) -> (Vec<T>, usize, usize, usize) {
    let (off, rs, cs, len) = match layout {
        Layout::Row => (0, cols, 1, rows * cols),
        Layout::Col => (0, 1, rows, rows * cols),
        Layout::Strided => (0, 2 * cols + 3, 2, rows * (2 * cols + 3) + 1),
        Layout::RowPadded => (1, cols + 1, 1, 1 + rows * (cols + 1)),
        Layout::ColPadded => (1, 1, rows + 1, 1 + cols * (rows + 1)),
    };
    let mut buf = vec![T::default(); len.max(1)];
    for i in 0..rows {
        for j in 0..cols {
            buf[off + i * rs + j * cs] = vals[i * cols + j];
        }
    }
    (buf, off, rs, cs)
}

trait TestFloat: Scalar + Default {
    const U: f64;
    fn of(x: f64) -> Self;
}
impl TestFloat for f32 {
    const U: f64 = f32::EPSILON as f64 / 2.0;
    fn of(x: f64) -> Self {
        x as f32
    }
}
impl TestFloat for f64 {
    const U: f64 = f64::EPSILON / 2.0;
    fn of(x: f64) -> Self {
        x
    }
}

#[allow(clippy::too_many_arguments)]
fn check<T: TestFloat>(
    rng: &mut Rng,
    (m, n, k): (usize, usize, usize),
    la: Layout,
    lb: Layout,
    lc: Layout,
    alpha: f64,
    beta: f64,
    par: Parallelism,
) {
    let av: Vec<T> = (0..m * k).map(|_| T::of(rng.uniform())).collect();
    let bv: Vec<T> = (0..k * n).map(|_| T::of(rng.uniform())).collect();
    let cv: Vec<T> = (0..m * n).map(|_| T::of(rng.uniform())).collect();
    let (ab, aoff, ars, acs) = store(&av, m, k, la);
    let (bb, boff, brs, bcs) = store(&bv, k, n, lb);
    let (mut cb, coff, crs, ccs) = store(&cv, m, n, lc);
    let a = MatRef::new("a", &ab[aoff..], m, k, ars, acs).unwrap();
    let b = MatRef::new("b", &bb[boff..], k, n, brs, bcs).unwrap();
    let c = MatMut::new("out", &mut cb[coff..], m, n, crs, ccs).unwrap();
    gemm(T::of(alpha), a, b, T::of(beta), c, par).unwrap();
    for i in 0..m {
        for j in 0..n {
            let (mut s, mut abs) = (0.0f64, 0.0f64);
            for p in 0..k {
                let x = av[i * k + p].to_f64() * bv[p * n + j].to_f64();
                s += x;
                abs += x.abs();
            }
            let c0 = cv[i * n + j].to_f64();
            let want = alpha * s + if beta == 0.0 { 0.0 } else { beta * c0 };
            let bound = 2.0 * (k as f64 + 2.0) * T::U * (alpha.abs() * abs + (beta * c0).abs()) + 1e-300;
            let got = cb[coff + i * crs + j * ccs].to_f64();
            assert!(
                (got - want).abs() <= bound,
                "{} ({m},{n},{k}) {la:?}/{lb:?}/{lc:?} a={alpha} b={beta} {par:?} tier {:?}: C[{i}][{j}] = {got}, want {want} ± {bound}",
                std::any::type_name::<T>(),
                cpu::active()
            );
        }
    }
}

const SHAPES: [(usize, usize, usize); 12] = [
    (0, 5, 3),
    (4, 0, 3),
    (3, 4, 0),
    (1, 1, 1),
    (1, 37, 19),
    (37, 1, 19),
    (17, 13, 1),
    (33, 25, 7),
    (31, 49, 130),
    (65, 23, 257),
    (130, 70, 600),
    (300, 270, 45),
];

fn all_layouts<T: TestFloat>(rng: &mut Rng, shapes: &[(usize, usize, usize)], par: Parallelism) {
    use Layout::*;
    for &s in shapes {
        for (la, lb, lc) in
            [(Row, Row, Row), (Col, Col, Col), (Row, Col, Col), (Col, Row, Row), (Strided, Strided, Strided)]
        {
            check::<T>(rng, s, la, lb, lc, 1.0, 0.0, par);
        }
        check::<T>(rng, s, Row, Row, Row, -0.5, 1.0, par);
        check::<T>(rng, s, Col, Row, Strided, 2.0, 0.25, par);
    }
}

#[test]
fn every_tier_every_layout() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let mut rng = Rng(7);
    for &tier in available_tiers() {
        cpu::set_active(tier).unwrap();
        all_layouts::<f32>(&mut rng, &SHAPES, Parallelism::Sequential);
        all_layouts::<f64>(&mut rng, &SHAPES, Parallelism::Sequential);
    }
    cpu::set_active(cpu::best_tier()).unwrap();
}

/// Shapes built from the active tier's own tile and blocks, so that they sit on its
/// edges whatever the tile is: `mr`/`nr` ± 1 (partial tiles, direct stores), `kc` ± 1
/// (a second, one-deep `KC` slice), more than `IN_PLACE_MAX_REUSE` panels on both
/// sides (both operands packed) with `m` past `MC` (two row blocks) and `k` over
/// three `KC` slices.
///
/// The same edges of the narrow tile (taken when the `MR` side has at most its `mr`
/// rows): its `mr` and `mr - 1` rows against `nr ± 1` columns, the wide tile's `mr`
/// halved and +1 (the switch point), in both orientations (`C` column- and
/// row-major swap which side is `MR`).
fn edge_shapes<T: Scalar>() -> Vec<(usize, usize, usize)> {
    let (mr, nr, kc, _, _) = mlkern_linalg::gemm::block_sizes::<T>(usize::MAX, 1 << 20);
    let (_, _, _, mc, _) = mlkern_linalg::gemm::block_sizes::<T>(usize::MAX, 2 * kc + 7);
    let (nmr, nnr, _, _, _) = mlkern_linalg::gemm::block_sizes::<T>(1, 1 << 20);
    vec![
        (mr - 1, nr + 1, kc + 1),
        (mr + 1, nr - 1, kc - 1),
        (2 * mr + 1, 2 * nr - 1, kc),
        ((mc + mr + 3).max(9 * mr + 3), 9 * nr + 5, 2 * kc + 7),
        (nmr, nnr + 1, kc + 1),
        (nmr - 1, 9 * nnr + 1, 2 * kc + 3),
        (nnr - 1, nmr, kc - 1),
        (nmr + 1, nnr - 1, 5),
        (nmr, 2 * nmr, 4 * kc + 9),
    ]
}

#[test]
fn edges_of_each_tiers_own_tile_and_blocks() {
    use Layout::*;
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    threads::set_num_threads(2).unwrap();
    let mut rng = Rng(29);
    for &tier in available_tiers() {
        cpu::set_active(tier).unwrap();
        let (shapes32, shapes64) = (edge_shapes::<f32>(), edge_shapes::<f64>());
        for (&s32, &s64) in shapes32.iter().zip(&shapes64) {
            for (la, lb, lc) in [(Row, Row, Row), (Col, Row, Strided), (Row, Col, Col)] {
                check::<f32>(&mut rng, s32, la, lb, lc, 1.0, 0.0, Parallelism::Sequential);
                check::<f64>(&mut rng, s64, la, lb, lc, 1.0, 0.0, Parallelism::Pool);
            }
            check::<f64>(&mut rng, s64, Row, Row, Row, -0.5, 1.0, Parallelism::Sequential);
            check::<f32>(&mut rng, s32, Col, Col, Row, 2.0, 0.25, Parallelism::Pool);
        }
    }
    cpu::set_active(cpu::best_tier()).unwrap();
}

/// Skinny products read their big operand in place (see `IN_PLACE_MAX_REUSE` in
/// `src/gemm.rs`): a few micro-panels on one side, many on the other, k over several
/// `KC` blocks, partial edge panels (still packed) on both sides, unaligned rows and
/// columns, alpha (which keeps `A` packed) and beta; every tier, one and two threads.
#[test]
fn skinny_products_read_operands_in_place() {
    use Layout::*;
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    threads::set_num_threads(2).unwrap();
    let mut rng = Rng(13);
    let shapes = [(45, 700, 600), (700, 45, 600), (33, 29, 1100), (64, 260, 520), (7, 3000, 70)];
    for &tier in available_tiers() {
        cpu::set_active(tier).unwrap();
        for &s in &shapes {
            for (la, lb, lc) in [(Row, Row, Row), (RowPadded, ColPadded, Col), (ColPadded, RowPadded, RowPadded)] {
                check::<f32>(&mut rng, s, la, lb, lc, 1.0, 0.0, Parallelism::Sequential);
                check::<f64>(&mut rng, s, la, lb, lc, 1.0, 0.0, Parallelism::Pool);
            }
            check::<f64>(&mut rng, s, ColPadded, ColPadded, Row, -1.5, 0.5, Parallelism::Sequential);
            check::<f32>(&mut rng, s, RowPadded, RowPadded, ColPadded, 1.0, 2.0, Parallelism::Pool);
        }
    }
    cpu::set_active(cpu::best_tier()).unwrap();
}

#[test]
fn threads_and_k_split() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    threads::set_num_threads(2).unwrap();
    let mut rng = Rng(11);
    all_layouts::<f64>(&mut rng, &SHAPES[7..], Parallelism::Pool);
    // Small output, long k: the k-split path (k >= 4·KC for every tier's KC <= 512
    // and m·n <= 64·k: cut into chunks whatever the thread count), with beta, on
    // every tier, sequential and on two threads.
    for &tier in available_tiers() {
        cpu::set_active(tier).unwrap();
        for par in [Parallelism::Sequential, Parallelism::Pool, Parallelism::Threads(2)] {
            check::<f32>(&mut rng, (9, 5, 5000), Layout::Row, Layout::Row, Layout::Row, 1.0, 0.5, par);
            check::<f64>(&mut rng, (20, 13, 4100), Layout::Col, Layout::Row, Layout::Row, 1.0, 0.0, par);
            check::<f64>(&mut rng, (16, 16, 20000), Layout::Row, Layout::Row, Layout::Col, -2.0, 1.5, par);
        }
    }
    cpu::set_active(cpu::best_tier()).unwrap();
}

/// `C = A·B` under `par`, row-major everything.
fn product<T: TestFloat>(a: &[T], b: &[T], (m, n, k): (usize, usize, usize), par: Parallelism) -> Vec<T> {
    let mut c = vec![T::of(0.0); m * n];
    let (a, b) = (MatRef::row_major("a", a, m, k).unwrap(), MatRef::row_major("b", b, k, n).unwrap());
    gemm(T::of(1.0), a, b, T::of(0.0), MatMut::row_major("out", &mut c, m, n).unwrap(), par).unwrap();
    c
}

/// Results are bitwise independent of the thread count: the k-split (small output,
/// long k), the row/column task split and skinny in-place products, 1 vs 2 threads.
#[test]
fn results_are_bitwise_identical_on_one_and_two_threads() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    threads::set_num_threads(2).unwrap();
    let mut rng = Rng(19);
    let shapes = [(16, 16, 20000), (9, 5, 5000), (64, 32, 30000), (300, 250, 400), (45, 700, 600)];
    for &tier in available_tiers() {
        cpu::set_active(tier).unwrap();
        for &(m, n, k) in &shapes {
            let a: Vec<f64> = (0..m * k).map(|_| rng.uniform()).collect();
            let b: Vec<f64> = (0..k * n).map(|_| rng.uniform()).collect();
            let one = product(&a, &b, (m, n, k), Parallelism::Sequential);
            let two = product(&a, &b, (m, n, k), Parallelism::Threads(2));
            let differ = one.iter().zip(&two).filter(|(x, y)| x.to_bits() != y.to_bits()).count();
            assert_eq!(differ, 0, "({m},{n},{k}) tier {tier:?}: {differ} entries differ between 1 and 2 threads");
            let (a32, b32): (Vec<f32>, Vec<f32>) =
                (a.iter().map(|&x| x as f32).collect(), b.iter().map(|&x| x as f32).collect());
            let one = product(&a32, &b32, (m, n, k), Parallelism::Sequential);
            let two = product(&a32, &b32, (m, n, k), Parallelism::Threads(2));
            assert!(one.iter().zip(&two).all(|(x, y)| x.to_bits() == y.to_bits()), "f32 ({m},{n},{k}) {tier:?}");
        }
    }
    cpu::set_active(cpu::best_tier()).unwrap();
}

#[test]
fn beta_zero_ignores_nan_in_c_and_nan_inputs_propagate() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (m, n, k) = (19, 21, 33);
    let a = vec![1.0f64; m * k];
    let mut b = vec![1.0f64; k * n];
    let mut c = vec![f64::NAN; m * n];
    gemm(
        1.0,
        MatRef::row_major("a", &a, m, k).unwrap(),
        MatRef::row_major("b", &b, k, n).unwrap(),
        0.0,
        MatMut::row_major("out", &mut c, m, n).unwrap(),
        Parallelism::Sequential,
    )
    .unwrap();
    assert!(c.iter().all(|&x| x == k as f64));
    b[5 * n + 3] = f64::NAN; // column 3 of the product becomes NaN, nothing else
    b[7 * n + 4] = f64::INFINITY;
    gemm(
        1.0,
        MatRef::row_major("a", &a, m, k).unwrap(),
        MatRef::row_major("b", &b, k, n).unwrap(),
        0.0,
        MatMut::row_major("out", &mut c, m, n).unwrap(),
        Parallelism::Sequential,
    )
    .unwrap();
    for i in 0..m {
        for j in 0..n {
            let x = c[i * n + j];
            match j {
                3 => assert!(x.is_nan()),
                4 => assert_eq!(x, f64::INFINITY),
                _ => assert_eq!(x, k as f64),
            }
        }
    }
}

#[test]
fn shape_errors() {
    let v = vec![0.0f32; 64];
    let mut w = vec![0.0f32; 64];
    let a = MatRef::row_major("a", &v, 4, 4).unwrap();
    let b = MatRef::row_major("b", &v[..12], 3, 4).unwrap();
    let err = gemm(1.0, a, b, 0.0, MatMut::row_major("out", &mut w, 4, 4).unwrap(), Parallelism::Pool).unwrap_err();
    assert!(err.to_string().contains("inner dimensions"), "{err}");
    let b = MatRef::row_major("b", &v[..16], 4, 4).unwrap();
    let err = gemm(1.0, a, b, 0.0, MatMut::row_major("out", &mut w, 4, 5).unwrap(), Parallelism::Pool).unwrap_err();
    assert!(err.to_string().starts_with("out"), "{err}");
}
