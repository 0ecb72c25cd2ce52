//! The GEMM's [`PairDots`] provider behind `cdist`/`topk`: every entry of a block is
//! bitwise the entry of the whole product (whatever the block's shape, which picks
//! the tile, the orientation and the in-place reads, and whatever the thread count),
//! also where the plain GEMM would cut `d` into chunks, and within `γ_d Σ|a_k b_k|`
//! of the exact value; every tier.

#[path = "../../core/tests/common.rs"]
mod common;

use common::{exact_dot, gamma, Rng};
use mlkern_core::cpu::{self, available_tiers};
use mlkern_core::threads;
use mlkern_core::vector::PairDots;
use mlkern_linalg::pairwise::GemmDots;

#[path = "support/serial.rs"]
mod serial;
use serial::SERIAL;

fn dots(a: &[f64], m: usize, b: &[f64], n: usize, d: usize, threads: usize) -> Vec<f64> {
    let mut out = vec![f64::NAN; m * n];
    GemmDots.dots(a, m, b, n, d, &mut out, threads).unwrap();
    out
}

#[test]
fn blocks_are_bitwise_the_whole_product_every_tier() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    threads::set_num_threads(2).unwrap();
    let mut rng = Rng(41);
    // d: below one KC slice, across slices, and past 4 KC (where gemm splits k).
    for &tier in available_tiers() {
        cpu::set_active(tier).unwrap();
        // d = 2100 with a 400 × 400 output: the whole product would not be split, its
        // small blocks would (gemm cuts k when m·n <= 64 k).
        for (d, m, n) in [(5, 70, 45), (777, 70, 45), (2100, 400, 400)] {
            let a = rng.vec_f64(m * d);
            let b = rng.vec_f64(n * d);
            let whole = dots(&a, m, &b, n, d, 2);
            for i in (0..m).step_by(m / 40 + 1) {
                for j in (0..n).step_by(n / 40 + 1) {
                    let (x, y) = (&a[i * d..(i + 1) * d], &b[j * d..(j + 1) * d]);
                    let abs: f64 = x.iter().zip(y).map(|(p, q)| (p * q).abs()).sum();
                    let err = (whole[i * n + j] - exact_dot(x, y)).abs();
                    assert!(err <= gamma(d, common::U64) * abs * 1.0001, "{tier} d={d} ({i},{j}): error {err}");
                }
            }
            // Sub-blocks: 1×1 (the shape gemm would split), a row, a column, an odd
            // block; one thread.
            for (i0, i1, j0, j1) in [(3, 4, 7, 8), (0, 1, 0, n), (0, m, n - 1, n), (5, 38, 2, 31)] {
                let (bm, bn) = (i1 - i0, j1 - j0);
                let part = dots(&a[i0 * d..i1 * d], bm, &b[j0 * d..j1 * d], bn, d, 1);
                for i in 0..bm {
                    for j in 0..bn {
                        assert_eq!(
                            part[i * bn + j].to_bits(),
                            whole[(i0 + i) * n + j0 + j].to_bits(),
                            "{tier} d={d}: block ({i0}..{i1}, {j0}..{j1}) entry ({i},{j})"
                        );
                    }
                }
            }
        }
    }
    cpu::set_active(cpu::best_tier()).unwrap();
}

/// float32, where AVX-512 has two tiles (`64 × 6`, and `32 × 12` when the tile side
/// has at most 32 rows). A row-major output is computed transposed unless `b` is
/// long (more than 8 panels of the tile: `n > 512`), so the tile side is the block's
/// `n` here (32: narrow, 33: wide) and, for the 600-column whole product, its `m`:
/// blocks on either tile and either orientation against the whole product, bitwise.
#[test]
fn float32_blocks_on_either_tile_are_bitwise_the_whole_product() {
    let _g = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    threads::set_num_threads(2).unwrap();
    let mut rng = Rng(43);
    for &tier in available_tiers() {
        cpu::set_active(tier).unwrap();
        for (d, m, n) in [(9, 100, 70), (1030, 100, 600), (2100, 400, 400)] {
            let (a, b) = (rng.vec_f32(m * d), rng.vec_f32(n * d));
            let mut whole = vec![f32::NAN; m * n];
            GemmDots.dots(&a, m, &b, n, d, &mut whole, 2).unwrap();
            let blocks = [(0, 1, 0, 1), (10, 42, 0, n), (60, 93, 1, 70), (0, m, 3, 35), (0, m, 3, 36), (7, 8, 9, 10)];
            for (i0, i1, j0, j1) in blocks {
                let (bm, bn) = (i1 - i0, j1 - j0);
                let mut part = vec![f32::NAN; bm * bn];
                GemmDots.dots(&a[i0 * d..i1 * d], bm, &b[j0 * d..j1 * d], bn, d, &mut part, 1).unwrap();
                for i in 0..bm {
                    for j in 0..bn {
                        assert_eq!(
                            part[i * bn + j].to_bits(),
                            whole[(i0 + i) * n + j0 + j].to_bits(),
                            "{tier} f32 d={d}: block ({i0}..{i1}, {j0}..{j1}) entry ({i},{j})"
                        );
                    }
                }
            }
        }
    }
    cpu::set_active(cpu::best_tier()).unwrap();
}
