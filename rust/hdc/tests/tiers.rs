//! Every hdc kernel on every tier (and the VPOPCNTDQ kernel) against plain
//! reference code written from the definitions: awkward word counts, tile and
//! cache-block edges, unaligned row starts.

use mlkern_core::rng::splitmix64;
use mlkern_core::Tier;
use mlkern_hdc::encode::{self, Nonlinearity, Projection};
use mlkern_hdc::{dispatch, distance, ops, train};

fn bits_of(x: &[u64], d: usize) -> Vec<u8> {
    (0..d).map(|j| ((x[j / 64] >> (j % 64)) & 1) as u8).collect()
}

fn pack(bits: &[u8]) -> Vec<u64> {
    let mut v = vec![0u64; bits.len().div_ceil(64)];
    for (j, &b) in bits.iter().enumerate() {
        v[j / 64] |= u64::from(b) << (j % 64);
    }
    v
}

fn ref_hamming(a: &[u8], b: &[u8]) -> i64 {
    a.iter().zip(b).filter(|(x, y)| x != y).count() as i64
}

fn tiers() -> Vec<Tier> {
    mlkern_core::cpu::available_tiers().to_vec()
}

#[test]
fn every_popcount_kernel_matches_the_bitwise_reference() {
    let kernels = dispatch::all_hamming();
    assert!(kernels.len() >= tiers().len());
    for d in [1usize, 63, 64, 65, 200, 255, 256, 257, 511, 513, 1000, 10_000] {
        let words = d.div_ceil(64);
        for (m, n) in [(1usize, 1usize), (2, 4), (3, 5), (5, 9), (7, 13)] {
            let a = ops::random(m, d, 11 + d as u64).unwrap();
            let b = ops::random(n, d, 29 + d as u64).unwrap();
            let ab: Vec<Vec<u8>> = (0..m).map(|i| bits_of(&a[i * words..], d)).collect();
            let bb: Vec<Vec<u8>> = (0..n).map(|j| bits_of(&b[j * words..], d)).collect();
            // One extra leading word, so that rows start 8 bytes off any alignment.
            let mut off = vec![u64::MAX];
            off.extend_from_slice(&a);
            for &(tier, k) in &kernels {
                let got = distance::cdist_hamming_with(k, &off[1..], m, &b, n, words).unwrap();
                for i in 0..m {
                    for j in 0..n {
                        assert_eq!(
                            got[i * n + j],
                            ref_hamming(&ab[i], &bb[j]),
                            "{} {} d={d} ({i},{j})",
                            tier.name(),
                            k.name
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn cdist_crosses_cache_blocks_and_tasks() {
    mlkern_core::threads::set_num_threads(3).unwrap();
    let d: usize = 4000; // 63 words: 520 rows per 256 KiB block
    let words = d.div_ceil(64);
    let (m, n) = (37, 1301);
    let a = ops::random(m, d, 1).unwrap();
    let b = ops::random(n, d, 2).unwrap();
    for &(tier, k) in &dispatch::all_hamming() {
        let got = distance::cdist_hamming_with(k, &a, m, &b, n, words).unwrap();
        for i in (0..m).step_by(5) {
            for j in (0..n).step_by(7) {
                let want: u32 = (0..words).map(|w| (a[i * words + w] ^ b[j * words + w]).count_ones()).sum();
                assert_eq!(got[i * n + j], i64::from(want), "{} {}", tier.name(), k.name);
            }
        }
    }
}

#[test]
fn topk_is_smallest_first_ties_to_lower_index() {
    let d = 70;
    let words = 2;
    // Memory with many duplicate rows, so ties are common.
    let base = ops::random(5, d, 3).unwrap();
    let mem: Vec<u64> = (0..40).flat_map(|i| base[(i % 5) * words..(i % 5 + 1) * words].to_vec()).collect();
    let q = ops::random(3, d, 4).unwrap();
    let (idx, dist) = distance::topk_hamming(&q, 3, &mem, 40, words, 12).unwrap();
    for r in 0..3 {
        let mut all: Vec<(i64, i64)> = (0..40)
            .map(|j| {
                (
                    i64::from((0..words).map(|w| (q[r * words + w] ^ mem[j * words + w]).count_ones()).sum::<u32>()),
                    j as i64,
                )
            })
            .collect();
        all.sort();
        for t in 0..12 {
            assert_eq!((dist[r * 12 + t], idx[r * 12 + t]), all[t]);
        }
    }
    assert!(distance::topk_hamming(&q, 3, &mem, 40, words, 41).is_err());
    assert!(distance::topk_hamming(&q, 3, &mem, 40, words, 0).is_err());
}

/// f64 reference projection and its rounding bound (module docs of encode.rs).
fn ref_projection(x: &[f32], w: &[f32], f: usize, dpad: usize, r: usize, c: usize) -> (f64, f64) {
    let (mut z, mut mag) = (0.0f64, 0.0f64);
    for k in 0..f {
        let t = f64::from(x[r * f + k]) * f64::from(w[k * dpad + c]);
        z += t;
        mag += t.abs();
    }
    (z, (f as f64 + 2.0) * f64::from(f32::EPSILON) * mag)
}

#[test]
fn projection_sign_codes_match_the_reference_on_every_tier() {
    for (f, d, rows) in [(1usize, 1usize, 1usize), (3, 65, 7), (32, 1000, 13), (17, 10_000, 8), (64, 129, 19)] {
        let words = d.div_ceil(64);
        let dpad = words * 64;
        let x: Vec<f32> =
            (0..rows * f).map(|i| (splitmix64(1, i as u64) >> 40) as f32 / (1u64 << 23) as f32 - 1.0).collect();
        let mut w: Vec<f32> =
            (0..f * dpad).map(|i| (splitmix64(2, i as u64) >> 40) as f32 / (1u64 << 23) as f32 - 1.0).collect();
        for k in 0..f {
            for c in d..dpad {
                w[k * dpad + c] = 0.0;
            }
        }
        let panels = encode::panel_major(&w, f, dpad);
        let p = Projection { w: &panels, features: f, d, bias: &[], nonlinearity: Nonlinearity::Identity };
        for tier in tiers() {
            let k = dispatch::for_tier(tier).unwrap();
            let bits = encode::encode_bits_with(k, &x, rows, &p).unwrap();
            let vals = encode::encode_values_with(k, &x, rows, &p).unwrap();
            for r in 0..rows {
                assert_eq!(bits[r * words + words - 1] & !mlkern_hdc::last_word_mask(d), 0, "padding");
                for c in 0..d {
                    let (z, bound) = ref_projection(&x, &w, f, dpad, r, c);
                    let bit = (bits[r * words + c / 64] >> (c % 64)) & 1;
                    let v = f64::from(vals[r * d + c]);
                    assert!((v - z).abs() <= bound, "{} value ({r},{c}) {v} vs {z}", tier.name());
                    if z.abs() > bound {
                        assert_eq!(bit == 1, z > 0.0, "{} bit ({r},{c}) z={z}", tier.name());
                    }
                }
            }
        }
    }
}

#[test]
fn sinusoid_codes_match_the_reference() {
    let (f, d, rows) = (5usize, 130usize, 9usize);
    let dpad = 192;
    let x: Vec<f32> = (0..rows * f).map(|i| ((i * 37) % 11) as f32 / 5.0 - 1.0).collect();
    let mut w: Vec<f32> = (0..f * dpad).map(|i| ((i * 53) % 17) as f32 / 8.0 - 1.0).collect();
    let mut bias: Vec<f32> = (0..dpad).map(|i| (i % 7) as f32 * 0.9).collect();
    for c in d..dpad {
        bias[c] = 0.0;
        for k in 0..f {
            w[k * dpad + c] = 0.0;
        }
    }
    let panels = encode::panel_major(&w, f, dpad);
    let p = Projection { w: &panels, features: f, d, bias: &bias, nonlinearity: Nonlinearity::Sinusoid };
    for tier in tiers() {
        let k = dispatch::for_tier(tier).unwrap();
        let vals = encode::encode_values_with(k, &x, rows, &p).unwrap();
        let bits = encode::encode_bits_with(k, &x, rows, &p).unwrap();
        for r in 0..rows {
            for c in 0..d {
                let (z, _) = ref_projection(&x, &w, f, dpad, r, c);
                let h = (z + f64::from(bias[c])).cos() * z.sin();
                assert!((f64::from(vals[r * d + c]) - h).abs() < 1e-4, "{}", tier.name());
                if h.abs() > 1e-4 {
                    assert_eq!((bits[r * 3 + c / 64] >> (c % 64)) & 1 == 1, h > 0.0, "{}", tier.name());
                }
            }
        }
    }
}

#[test]
fn pack_positive_and_bipolar_add_on_every_tier() {
    for d in [1usize, 15, 16, 17, 63, 64, 65, 200] {
        let v: Vec<f32> = (0..d).map(|i| [-1.0, 0.0, -0.0, 2.0, f32::NAN, 1e-30][(i * 7 + d) % 6]).collect();
        let want = pack(&v.iter().map(|&x| u8::from(x > 0.0)).collect::<Vec<_>>());
        let code = ops::random(1, d, d as u64).unwrap();
        let cb = bits_of(&code, d);
        for tier in tiers() {
            let k = dispatch::for_tier(tier).unwrap();
            let mut out = vec![0u64; d.div_ceil(64)];
            (k.pack_positive)(&v, d, &mut out);
            assert_eq!(out, want, "{} d={d}", tier.name());
            let mut row = vec![0.5f32; d];
            (k.bipolar_add)(&code, 2.0, &mut row);
            for j in 0..d {
                assert_eq!(row[j], if cb[j] == 1 { 2.5 } else { -1.5 }, "{} d={d}", tier.name());
            }
        }
    }
}

#[test]
fn permute_is_np_roll_of_the_bits() {
    for d in [1usize, 5, 63, 64, 65, 130, 1000] {
        let x = ops::random(3, d, 9).unwrap();
        let words = d.div_ceil(64);
        for k in [0i64, 1, -1, 63, 64, 65, d as i64, d as i64 + 3, -(d as i64) - 7, 1_000_003] {
            let got = ops::permute(&x, 3, d, k).unwrap();
            for r in 0..3 {
                let b = bits_of(&x[r * words..], d);
                let mut rolled = vec![0u8; d];
                for i in 0..d {
                    rolled[((i as i64 + k).rem_euclid(d as i64)) as usize] = b[i];
                }
                assert_eq!(&got[r * words..(r + 1) * words], &pack(&rolled)[..], "d={d} k={k}");
            }
        }
    }
}

#[test]
fn bundle_is_the_bitwise_majority() {
    for (rows, d) in [(1usize, 10usize), (3, 100), (4, 100), (300, 129), (600, 5000), (256, 64)] {
        let words = d.div_ceil(64);
        let x = ops::random(rows, d, rows as u64).unwrap();
        let got = ops::bundle(&x, rows, d, 5).unwrap();
        let got2 = ops::bundle(&x, rows, d, 6).unwrap();
        let mut ties = 0;
        for j in 0..d {
            let c = (0..rows).filter(|&r| (x[r * words + j / 64] >> (j % 64)) & 1 == 1).count();
            let g = (got[j / 64] >> (j % 64)) & 1;
            if 2 * c > rows {
                assert_eq!(g, 1);
            } else if 2 * c < rows {
                assert_eq!(g, 0);
            } else {
                ties += 1;
            }
        }
        assert_eq!(got[words - 1] & !mlkern_hdc::last_word_mask(d), 0);
        if ties > 40 {
            assert_ne!(got, got2, "the seed breaks ties");
        }
    }
    assert!(ops::bundle(&[], 0, 10, 0).is_err());
    // Seeded like the vectors it bundles, the tie bits are none of them.
    let two = ops::random(2, 1000, 0).unwrap();
    let b = ops::bundle(&two, 2, 1000, 0).unwrap();
    for r in 0..2 {
        let h: u32 = (0..16).map(|w| (b[w] ^ two[r * 16 + w]).count_ones()).sum();
        assert!(h > 150, "bundle equals row {r} (hamming {h})");
    }
}

#[test]
fn level_and_ngram_encoders_match_the_reference() {
    let d = 300;
    let words = 5;
    let f = 6;
    let ids = ops::random(f, d, 1).unwrap();
    let lv = ops::random(4, d, 2).unwrap();
    let level: Vec<u32> = (0..3 * f).map(|i| (i * 7 % 4) as u32).collect();
    let got = encode::level_encode(&level, 3, f, &ids, &lv, 4, d, 9).unwrap();
    for r in 0..3 {
        for j in 0..d {
            let c = (0..f)
                .filter(|&i| {
                    ((ids[i * words + j / 64] ^ lv[level[r * f + i] as usize * words + j / 64]) >> (j % 64)) & 1 == 1
                })
                .count();
            let g = (got[r * words + j / 64] >> (j % 64)) & 1;
            if 2 * c != f {
                assert_eq!(g == 1, 2 * c > f);
            }
        }
    }
    assert!(encode::level_encode(&[4], 1, 1, &ids[..words], &lv, 4, d, 0).is_err());
    // n-grams: n = 2, vocab 3, one sequence of 4 tokens (3 windows, no ties).
    let book = ops::random(3, d, 3).unwrap();
    let rot1 = ops::permute(&book, 3, d, 1).unwrap();
    let rotated: Vec<u64> = book.iter().chain(rot1.iter()).copied().collect();
    let toks = [0u32, 2, 1, 2];
    let got = encode::ngram_encode(&toks, &[0, 4], &rotated, 2, 3, d, 0).unwrap();
    for j in 0..d {
        let bit = |v: &[u64], t: usize| (v[t * words + j / 64] >> (j % 64)) & 1;
        let c: u64 = (0..3).map(|p| bit(&rot1, toks[p] as usize) ^ bit(&book, toks[p + 1] as usize)).sum();
        assert_eq!((got[j / 64] >> (j % 64)) & 1, u64::from(c >= 2));
    }
    assert!(encode::ngram_encode(&toks, &[0, 1], &rotated, 2, 3, d, 0).is_err());
    assert!(encode::ngram_encode(&[5], &[0, 1], &rotated[..3 * words], 1, 3, d, 0).is_err());
    assert!(encode::ngram_encode(&[2], &[0, 1], &rotated[..3 * words], 1, 3, d, 0).is_ok());
}

#[test]
fn accumulate_adds_bipolar_codes_per_class() {
    let d = 100;
    let codes = ops::random(4, d, 1).unwrap();
    let mut c = vec![0f32; 2 * d];
    train::accumulate(&codes, 4, d, &[0, 1, 3, 1], &[0, 1, 1, 0], &[1.0, 1.0, 0.5, -2.0], &mut c, 2).unwrap();
    let b = |s: usize, j: usize| if (codes[s * 2 + j / 64] >> (j % 64)) & 1 == 1 { 1.0f32 } else { -1.0 };
    for j in 0..d {
        assert_eq!(c[j], b(0, j) - 2.0 * b(1, j));
        assert_eq!(c[d + j], b(1, j) + 0.5 * b(3, j));
    }
    assert!(train::accumulate(&codes, 4, d, &[4], &[0], &[1.0], &mut c, 2).is_err());
    assert!(train::accumulate(&codes, 4, d, &[0], &[2], &[1.0], &mut c, 2).is_err());
}

#[test]
fn random_is_deterministic_with_zero_padding() {
    let a = ops::random(10, 70, 3).unwrap();
    assert_eq!(a, ops::random(10, 70, 3).unwrap());
    assert_ne!(a, ops::random(10, 70, 4).unwrap());
    assert!(a.chunks(2).all(|r| r[1] >> 6 == 0));
    let ones: u32 = ops::random(100, 6400, 1).unwrap().iter().map(|w| w.count_ones()).sum();
    assert!((ones as f64 / 640_000.0 - 0.5).abs() < 0.005);
    assert!(ops::random(1, 0, 0).is_err());
    assert!(matches!(ops::random(1 << 58, 64, 0), Err(mlkern_core::Error::OutOfMemory { .. })));
    assert_eq!(ops::permute(&[], 0, usize::MAX, i64::MIN).unwrap(), Vec::<u64>::new());
    assert!(mlkern_hdc::check_padding("x", &a, 10, 70).is_ok());
    assert!(mlkern_hdc::check_padding("x", &[1u64 << 7], 1, 7).is_err());
}

#[test]
fn bundle_counts_past_the_byte_counters() {
    // 300 identical rows and 299 of their complements: every bit is set in exactly
    // 300 or 299 rows, so the counts cross the 255-addition flush of the byte counters.
    let d = 200;
    let v = ops::random(1, d, 1).unwrap();
    let mask = [u64::MAX, u64::MAX, u64::MAX, mlkern_hdc::last_word_mask(d)];
    let not_v: Vec<u64> = v.iter().zip(mask).map(|(x, m)| !x & m).collect();
    let mut stack = Vec::new();
    for _ in 0..300 {
        stack.extend_from_slice(&v);
    }
    for _ in 0..299 {
        stack.extend_from_slice(&not_v);
    }
    assert_eq!(ops::bundle(&stack, 599, d, 0).unwrap(), v);
    let all_ones: Vec<u64> = mask.to_vec().repeat(256);
    assert_eq!(ops::bundle(&all_ones, 256, d, 0).unwrap(), mask.to_vec());
}

#[test]
fn topk_trims_candidates_and_splits_memory() {
    mlkern_core::threads::set_num_threads(3).unwrap();
    let d = 100;
    let words = 2;
    let base = ops::random(7, d, 5).unwrap();
    let n = 3001;
    let mem: Vec<u64> = (0..n).flat_map(|i| base[(i * 13 % 7) * words..(i * 13 % 7 + 1) * words].to_vec()).collect();
    for q in [1usize, 2, 5, 130] {
        let qs = ops::random(q, d, q as u64).unwrap();
        for k in [1usize, 3, 50] {
            let (idx, dist) = distance::topk_hamming(&qs, q, &mem, n, words, k).unwrap();
            for r in 0..q {
                let mut all: Vec<(i64, i64)> = (0..n)
                    .map(|j| {
                        (
                            i64::from(
                                (0..words).map(|w| (qs[r * words + w] ^ mem[j * words + w]).count_ones()).sum::<u32>(),
                            ),
                            j as i64,
                        )
                    })
                    .collect();
                all.sort();
                for t in 0..k {
                    assert_eq!((dist[r * k + t], idx[r * k + t]), all[t], "q={q} k={k} r={r} t={t}");
                }
            }
        }
    }
}
