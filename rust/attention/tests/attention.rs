//! Flash attention against a float64 evaluation of `softmax(q·kᵀ·scale + mask)·v`,
//! on every tier this CPU has, over awkward sizes (tile and lane boundaries ± 1),
//! causal and masked variants, half-precision inputs and outputs, and bad input.

use half::{bf16, f16};
use mlkern_attention::softmax::exp2;
use mlkern_attention::{forward, forward_on, Dims, Elems, Mask, MaskValues, OutElems, Problem};
use mlkern_core::cpu::available_tiers;
use mlkern_core::rng::uniform;
use mlkern_core::threads::set_num_threads;

const U: f64 = 1.0 / (1u64 << 24) as f64;

fn values(seed: u64, n: usize, spread: f64) -> Vec<f32> {
    (0..n).map(|i| ((uniform(seed, i as u64) * 2.0 - 1.0) * spread) as f32).collect()
}

/// A mask in the Rust layout, kept as f64 additive values for the reference
/// (`-inf` for a `false` boolean entry).
struct TestMask {
    shape: [usize; 4],
    keep: Option<Vec<bool>>,
    add: Option<Vec<f32>>,
}

impl TestMask {
    fn at(&self, b: usize, h: usize, i: usize, j: usize) -> f64 {
        let [mb, mh, mq, mk] = self.shape;
        let idx = (((b % mb) * mh + h % mh) * mq + i % mq) * mk + j % mk;
        match (&self.keep, &self.add) {
            (Some(k), _) => {
                if k[idx] {
                    0.0
                } else {
                    f64::NEG_INFINITY
                }
            }
            (_, Some(a)) => f64::from(a[idx]),
            _ => 0.0,
        }
    }

    fn view(&self) -> Mask<'_> {
        let values = match (&self.keep, &self.add) {
            (Some(k), _) => MaskValues::Keep(k),
            (_, Some(a)) => MaskValues::Add(a),
            _ => unreachable!(),
        };
        Mask { values, shape: self.shape }
    }
}

/// The float64 reference and each row's error bound (the one documented in lib.rs).
fn reference(
    q: &[f64],
    k: &[f64],
    v: &[f64],
    dm: Dims,
    mask: Option<&TestMask>,
    causal: bool,
    scale: f64,
) -> (Vec<f64>, Vec<f64>) {
    let Dims { batch, heads, sq, sk, d, dv } = dm;
    let mut out = vec![0.0; batch * heads * sq * dv];
    let mut bound = vec![0.0; batch * heads * sq];
    for b in 0..batch {
        for h in 0..heads {
            let g = b * heads + h;
            let vmax = (0..sk * dv).map(|x| v[g * sk * dv + x].abs()).fold(0.0, f64::max);
            for i in 0..sq {
                let qi = &q[(g * sq + i) * d..][..d];
                let mut s = vec![f64::NEG_INFINITY; sk];
                let mut abs_max = 0.0f64;
                let mut n = 0usize;
                for j in 0..sk {
                    if causal && j > i {
                        continue;
                    }
                    let kj = &k[(g * sk + j) * d..][..d];
                    let dot: f64 = qi.iter().zip(kj).map(|(a, b)| a * b).sum();
                    let abs: f64 = qi.iter().zip(kj).map(|(a, b)| (a * b).abs()).sum();
                    let m = mask.map_or(0.0, |m| m.at(b, h, i, j));
                    s[j] = dot * scale + m;
                    if s[j] > f64::NEG_INFINITY {
                        n += 1;
                        abs_max = abs_max.max(abs * scale.abs());
                    }
                }
                let smax = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let row = &mut out[(g * sq + i) * dv..][..dv];
                if smax == f64::NEG_INFINITY {
                    continue; // no key: zeros
                }
                let p: Vec<f64> = s.iter().map(|x| (x - smax).exp()).collect();
                let total: f64 = p.iter().sum();
                for j in 0..sk {
                    for c in 0..dv {
                        row[c] += p[j] / total * v[(g * sk + j) * dv + c];
                    }
                }
                bound[g * sq + i] = (2.0 * (d + 2) as f64 * U * abs_max + (n + d + 8) as f64 * U) * vmax;
            }
        }
    }
    (out, bound)
}

fn widen(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| f64::from(v)).collect()
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum In {
    F32,
    F16,
    Bf16,
}

/// Rounds `x` to the input format and returns the bits to pass and the values the
/// reference sees.
fn as_input(x: &[f32], kind: In) -> (Vec<f32>, Vec<u16>) {
    match kind {
        In::F32 => (x.to_vec(), vec![]),
        In::F16 => {
            let b: Vec<u16> = x.iter().map(|&v| f16::from_f32(v).to_bits()).collect();
            (b.iter().map(|&v| f16::from_bits(v).to_f32()).collect(), b)
        }
        In::Bf16 => {
            let b: Vec<u16> = x.iter().map(|&v| bf16::from_f32(v).to_bits()).collect();
            (b.iter().map(|&v| bf16::from_bits(v).to_f32()).collect(), b)
        }
    }
}

fn elems<'a>(kind: In, f: &'a [f32], h: &'a [u16]) -> Elems<'a> {
    match kind {
        In::F32 => Elems::F32(f),
        In::F16 => Elems::F16(h),
        In::Bf16 => Elems::Bf16(h),
    }
}

struct Case {
    dims: Dims,
    causal: bool,
    mask: Option<TestMask>,
    scale: Option<f64>,
    kind: In,
    spread: f64,
}

/// Runs `case` on every tier (1 and 2 threads) and checks each row against its bound.
fn check(case: &Case, seed: u64) {
    let dm = case.dims;
    let Dims { batch, heads, sq, sk, d, dv } = dm;
    let g = batch * heads;
    let (qf, qh) = as_input(&values(seed, g * sq * d, case.spread), case.kind);
    let (kf, kh) = as_input(&values(seed + 1, g * sk * d, case.spread), case.kind);
    let (vf, vh) = as_input(&values(seed + 2, g * sk * dv, 1.0), case.kind);
    let scale = case.scale.unwrap_or(1.0 / (d as f64).sqrt());
    let scale_used = f64::from(scale as f32);
    let (want, bound) =
        reference(&widen(&qf), &widen(&kf), &widen(&vf), dm, case.mask.as_ref(), case.causal, scale_used);
    let p = Problem::new(
        elems(case.kind, &qf, &qh),
        elems(case.kind, &kf, &kh),
        elems(case.kind, &vf, &vh),
        dm,
        case.mask.as_ref().map(|m| m.view()),
        case.causal,
        case.scale,
    )
    .unwrap();
    let mut first: Option<Vec<f32>> = None;
    for &tier in available_tiers() {
        for threads in [1, 2] {
            let mut out = vec![f32::NAN; g * sq * dv];
            assert!(forward_on(tier, &p, OutElems::F32(&mut out), threads, &|| false).unwrap());
            for r in 0..g * sq {
                for c in 0..dv {
                    let (got, w) = (f64::from(out[r * dv + c]), want[r * dv + c]);
                    assert!(
                        (got - w).abs() <= bound[r],
                        "{tier} {threads}t {dm:?} causal {} row {r} col {c}: {got} vs {w} (bound {:e})",
                        case.causal,
                        bound[r]
                    );
                }
            }
            if threads == 2 {
                let one = first.take().unwrap();
                assert!(one.iter().zip(&out).all(|(a, b)| a.to_bits() == b.to_bits()), "{tier}: threads changed bits");
            } else {
                first = Some(out);
            }
        }
    }
}

fn dims(batch: usize, heads: usize, sq: usize, sk: usize, d: usize, dv: usize) -> Dims {
    Dims { batch, heads, sq, sk, d, dv }
}

fn plain(d: Dims, causal: bool) -> Case {
    Case { dims: d, causal, mask: None, scale: None, kind: In::F32, spread: 1.0 }
}

#[test]
fn awkward_sizes_full_and_causal_on_every_tier() {
    let mut seed = 1;
    for &(sq, sk) in &[(1, 1), (3, 5), (63, 64), (64, 64), (65, 63), (130, 129), (200, 70), (70, 200)] {
        for &(d, dv) in &[(1, 1), (7, 9), (16, 16), (64, 64), (80, 72)] {
            for causal in [false, true] {
                check(&plain(dims(1, 2, sq, sk, d, dv), causal), seed);
                seed += 10;
            }
        }
    }
}

#[test]
fn longer_sequences_and_batches() {
    check(&plain(dims(2, 3, 300, 300, 64, 64), false), 7);
    check(&plain(dims(2, 3, 300, 300, 64, 64), true), 8);
    check(&plain(dims(1, 1, 1000, 1000, 32, 48), true), 9);
}

#[test]
fn large_scores_and_explicit_scale() {
    // Scores spread over about ±60: the exponentials span the float32 range.
    let mut c = plain(dims(1, 2, 70, 90, 16, 16), false);
    c.spread = 8.0;
    c.scale = Some(1.0);
    check(&c, 11);
    c.causal = true;
    check(&c, 12);
    c.scale = Some(-0.3);
    check(&c, 13);
}

fn bool_mask(shape: [usize; 4], seed: u64, density: f64) -> TestMask {
    let n = shape.iter().product();
    TestMask { shape, keep: Some((0..n).map(|i| uniform(seed, i as u64) < density).collect()), add: None }
}

#[test]
fn boolean_masks_broadcast_over_every_axis() {
    let (b, h, sq, sk) = (2, 3, 70, 66);
    let shapes =
        [[1, 1, sq, sk], [b, 1, sq, sk], [1, h, sq, sk], [b, h, sq, sk], [b, 1, 1, sk], [1, 1, sq, 1], [1, 1, 1, 1]];
    for (n, shape) in shapes.iter().enumerate() {
        for causal in [false, true] {
            let mut c = plain(dims(b, h, sq, sk, 24, 20), causal);
            c.mask = Some(bool_mask(*shape, 100 + n as u64, 0.6));
            check(&c, 20 + n as u64);
        }
    }
}

#[test]
fn additive_masks_including_minus_infinity() {
    let (b, h, sq, sk) = (1, 2, 65, 130);
    for shape in [[1, 1, sq, sk], [b, h, sq, sk], [1, 1, 1, sk]] {
        let n: usize = shape.iter().product();
        let add: Vec<f32> = (0..n)
            .map(|i| {
                let u = uniform(5, i as u64);
                if u < 0.2 {
                    f32::NEG_INFINITY
                } else {
                    (u * 6.0 - 3.0) as f32
                }
            })
            .collect();
        let mut c = plain(dims(b, h, sq, sk, 32, 32), false);
        c.mask = Some(TestMask { shape, keep: None, add: Some(add) });
        check(&c, 40);
    }
}

#[test]
fn fully_masked_rows_are_zero() {
    let (sq, sk) = (67, 70);
    let mut keep = vec![true; sq * sk];
    for j in 0..sk {
        keep[5 * sk + j] = false; // query 5 sees no key
        keep[66 * sk + j] = false; // the last, in the tail tile
    }
    let mut c = plain(dims(1, 1, sq, sk, 16, 16), false);
    c.mask = Some(TestMask { shape: [1, 1, sq, sk], keep: Some(keep), add: None });
    check(&c, 50);
    // and with infinite values that a zero weight would turn into NaN
    let q = values(1, sq * 16, 1.0);
    let k = values(2, sk * 16, 1.0);
    let mut v = values(3, sk * 16, 1.0);
    v[0] = f32::INFINITY;
    let m = c.mask.as_ref().unwrap();
    let p = Problem::new(Elems::F32(&q), Elems::F32(&k), Elems::F32(&v), c.dims, Some(m.view()), false, None).unwrap();
    let mut out = vec![f32::NAN; sq * 16];
    forward(&p, OutElems::F32(&mut out), 2, &|| false).unwrap();
    assert!(out[5 * 16..6 * 16].iter().all(|&x| x == 0.0));
    assert!(out[66 * 16..].iter().all(|&x| x == 0.0));
}

#[test]
fn half_precision_inputs_and_outputs() {
    for kind in [In::F16, In::Bf16] {
        for (d, dv) in [(64, 64), (20, 9)] {
            for causal in [false, true] {
                let mut c = plain(dims(1, 2, 70, 75, d, dv), causal);
                c.kind = kind;
                check(&c, 60);
            }
        }
    }
    // Half outputs: the float32 result rounded once.
    let dm = dims(1, 1, 40, 50, 16, 16);
    let (qf, qh) = as_input(&values(1, 640, 1.0), In::Bf16);
    let (kf, kh) = as_input(&values(2, 800, 1.0), In::Bf16);
    let (vf, vh) = as_input(&values(3, 800, 1.0), In::Bf16);
    let _ = (qf, kf, vf);
    let p = Problem::new(Elems::Bf16(&qh), Elems::Bf16(&kh), Elems::Bf16(&vh), dm, None, false, None).unwrap();
    let mut full = vec![0f32; 640];
    forward(&p, OutElems::F32(&mut full), 1, &|| false).unwrap();
    let mut b16 = vec![0u16; 640];
    forward(&p, OutElems::Bf16(&mut b16), 1, &|| false).unwrap();
    let mut h16 = vec![0u16; 640];
    forward(&p, OutElems::F16(&mut h16), 1, &|| false).unwrap();
    for i in 0..640 {
        assert_eq!(b16[i], bf16::from_f32(full[i]).to_bits());
        assert_eq!(h16[i], f16::from_f32(full[i]).to_bits());
    }
}

#[test]
fn non_finite_inputs_make_their_rows_nan() {
    let dm = dims(1, 1, 70, 70, 8, 8);
    let mut q = values(1, 560, 1.0);
    let k = values(2, 560, 1.0);
    let v = values(3, 560, 1.0);
    q[3 * 8 + 2] = f32::NAN;
    q[68 * 8] = f32::INFINITY;
    let p = Problem::new(Elems::F32(&q), Elems::F32(&k), Elems::F32(&v), dm, None, false, None).unwrap();
    for &tier in available_tiers() {
        let mut out = vec![0f32; 560];
        forward_on(tier, &p, OutElems::F32(&mut out), 2, &|| false).unwrap();
        for r in 0..70 {
            let nan = out[r * 8..(r + 1) * 8].iter().all(|x| x.is_nan());
            let finite = out[r * 8..(r + 1) * 8].iter().all(|x| x.is_finite());
            if r == 3 || r == 68 {
                assert!(nan, "{tier} row {r}");
            } else {
                assert!(finite, "{tier} row {r}");
            }
        }
    }
}

#[test]
fn exp2_is_within_two_ulp_and_clamps() {
    fn check(f: fn(f32) -> f32) {
        let mut worst = 0.0f64;
        for i in 0..2_000_000u64 {
            let x = (-126.0 + 253.0 * uniform(77, i)) as f32;
            let want = f64::from(x).exp2();
            let got = f64::from(f(x));
            let ulp = f64::from(f32::EPSILON) * want;
            worst = worst.max((got - want).abs() / ulp);
        }
        assert!(worst <= 2.0, "exp2 error {worst} ulp");
        assert_eq!(f(f32::NEG_INFINITY), 0.0);
        assert_eq!(f(-126.5), 0.0);
        assert_eq!(f(f32::INFINITY), 2f32.powi(127));
        assert!(f(f32::NAN).is_nan());
        assert_eq!(f(0.0), 1.0);
        assert_eq!(f(-1.0), 0.5);
    }
    check(exp2::<true>);
    check(exp2::<false>);
}

#[test]
fn threads_and_interruption() {
    let dm = dims(1, 4, 256, 256, 64, 64);
    let q = values(1, 4 * 256 * 64, 1.0);
    let mut out = vec![0f32; 4 * 256 * 64];
    let p = Problem::new(Elems::F32(&q), Elems::F32(&q), Elems::F32(&q), dm, None, true, None).unwrap();
    set_num_threads(2).unwrap();
    assert!(!forward(&p, OutElems::F32(&mut out), 2, &|| true).unwrap());
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let stop = || calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= 3;
    assert!(!forward(&p, OutElems::F32(&mut out), 2, &stop).unwrap());
}

#[test]
fn bad_input_is_refused() {
    let x = vec![0f32; 64];
    let h = [0u16; 64];
    let d = dims(1, 1, 4, 4, 4, 4);
    let e = |r: mlkern_core::Result<Problem<'_>>| r.unwrap_err().to_string();
    assert!(e(Problem::new(Elems::F32(&x[..16]), Elems::F16(&h[..16]), Elems::F32(&x[..16]), d, None, false, None))
        .contains("one dtype"));
    assert!(e(Problem::new(Elems::F32(&x[..15]), Elems::F32(&x[..16]), Elems::F32(&x[..16]), d, None, false, None))
        .starts_with("q:"));
    assert!(e(Problem::new(Elems::F32(&x[..16]), Elems::F32(&x[..16]), Elems::F32(&x[..17]), d, None, false, None))
        .starts_with("v:"));
    let d0 = dims(1, 1, 4, 4, 0, 4);
    assert!(e(Problem::new(Elems::F32(&[]), Elems::F32(&[]), Elems::F32(&x[..16]), d0, None, false, None))
        .contains("at least 1"));
    let s0 = dims(1, 1, 4, 0, 4, 4);
    assert!(e(Problem::new(Elems::F32(&x[..16]), Elems::F32(&[]), Elems::F32(&[]), s0, None, false, None))
        .contains("at least one key"));
    assert!(e(Problem::new(
        Elems::F32(&x[..16]),
        Elems::F32(&x[..16]),
        Elems::F32(&x[..16]),
        d,
        None,
        false,
        Some(f64::NAN)
    ))
    .starts_with("scale:"));
    let keep = vec![true; 8];
    let m = Mask { values: MaskValues::Keep(&keep), shape: [1, 1, 2, 4] };
    assert!(e(Problem::new(Elems::F32(&x[..16]), Elems::F32(&x[..16]), Elems::F32(&x[..16]), d, Some(m), false, None))
        .contains("does not broadcast"));
    let huge = dims(usize::MAX / 2, 4, 4, 4, 4, 4);
    assert!(
        e(Problem::new(Elems::F32(&x), Elems::F32(&x), Elems::F32(&x), huge, None, false, None)).contains("overflow")
    );
    // an output of the wrong length
    let p =
        Problem::new(Elems::F32(&x[..16]), Elems::F32(&x[..16]), Elems::F32(&x[..16]), d, None, false, None).unwrap();
    let mut out = vec![0f32; 15];
    assert!(forward(&p, OutElems::F32(&mut out), 1, &|| false).unwrap_err().to_string().starts_with("out:"));
    // no queries: nothing to do
    let e0 = dims(1, 1, 0, 4, 4, 4);
    let p = Problem::new(Elems::F32(&[]), Elems::F32(&x[..16]), Elems::F32(&x[..16]), e0, None, true, None).unwrap();
    assert!(forward(&p, OutElems::F32(&mut []), 1, &|| false).unwrap());
}
