//! The one dispatch table: every kernel instantiated once per SIMD tier.
//!
//! Each tier's kernels are compiled inside `#[target_feature(enable = ...)]`
//! functions (the crate itself is compiled for the baseline target), so one wheel carries all
//! tiers. [`active`] reads the tier atomic of [`crate::cpu`] and returns that tier's
//! table; [`for_tier`] returns any tier's table if, and only if, this CPU supports
//! it, which is what makes the safe wrappers below sound.

use crate::cpu::{self, Tier};
use crate::element::Float;
use crate::kernels::rfft::RfftPlan;
use crate::kernels::tile::TILE;

/// Pairwise 4 × 4 tile: `out[r][c] = Σ op(a[r][i], b[c][i])` over the shortest row.
pub type TileFn<T> = fn([&[T]; TILE], [&[T]; TILE]) -> [[T; TILE]; TILE];
/// Reduction of two slices to one value (over the shorter length).
pub type PairFn<T> = fn(&[T], &[T]) -> T;
/// Valid correlation `out[i] = Σ_j a[i + j] w[j]` (see `kernels/correlate.rs`).
pub type CorrelateFn<T> = fn(&[T], &[T], &mut [T]);

/// GEMM micro-kernel: `C[0..mr, 0..nr] (+)= Ã · B̃` (see `kernels/gemm.rs`), arguments
/// `(kc, ã, b̃, c, ldc, accumulate)`.
///
/// # Safety (of calling it)
/// `ã` valid for `kc · mr` reads, `b̃` for `kc · nr` reads, and the tile
/// `c[i + j · ldc]` (`i < mr`, `j < nr`) for reads and writes.
pub type GemmMicroFn<T> = unsafe fn(usize, *const T, *const T, *mut T, usize, bool);

/// The same tile with both operands read in place at strides (see
/// `kernels/gemm.rs::micro_tile_strided`), arguments
/// `(kc, a, a_step, b, b_step, b_col, c, ldc, accumulate)`: step `p` of `Ã` is the
/// `mr` contiguous elements at `a + p · a_step`, `B̃[p][j]` is at `b + p · b_step + j · b_col`.
///
/// # Safety (of calling it)
/// As [`GemmMicroFn`], with every one of those elements valid for reads.
pub type GemmStridedFn<T> = unsafe fn(usize, *const T, usize, *const T, usize, usize, *mut T, usize, bool);

/// A tier's GEMM micro-kernel and its register-tile shape.
#[derive(Debug, Clone, Copy)]
pub struct GemmMicro<T: 'static> {
    /// Rows of the tile (packed `Ã` panel height).
    pub mr: usize,
    /// Columns of the tile (packed `B̃` panel width).
    pub nr: usize,
    pub kernel: GemmMicroFn<T>,
    /// The tile with its operands read in place at strides.
    pub kernel_strided: GemmStridedFn<T>,
}

/// One CSR row times a dense matrix (see `kernels/spmm.rs`):
/// `(data, indices, b, ldb, kdim, out) -> indices valid`.
pub type CsrRowFn<T, I> = fn(&[T], &[I], &[T], usize, usize, &mut [T]) -> bool;

/// Real FFT of up to `lanes` rows (see `kernels/rfft.rs`), arguments
/// `(plan, src, ld_src, n_read, rows, scale, work, out, ld_out, next, next_rows)`:
/// row `r` reads `src[r·ld_src..][..n_read]` (zero-padded to the plan's `n`) and
/// writes `n/2 + 1` interleaved complex values times `scale` to `out[r·ld_out..]`;
/// the first `next_rows` rows of `next` (same layout) are prefetched for the next call.
pub type RfftFn<T> = fn(&RfftPlan<T>, &[T], usize, usize, usize, T, &mut [T], &mut [T], usize, &[T], usize);

/// A tier's batched real FFT and its batch width.
#[derive(Debug, Clone, Copy)]
pub struct RfftLanes<T: 'static> {
    /// Rows per call (the tier's lanes).
    pub lanes: usize,
    pub run: RfftFn<T>,
}

/// Kernels for one element type at one tier.
#[derive(Debug)]
pub struct ElemKernels<T: 'static> {
    /// `Σ a_i b_i`, four accumulators.
    pub dot: PairFn<T>,
    /// `Σ (a_i - b_i)^2`, four accumulators.
    pub sqeuclidean: PairFn<T>,
    /// Compensated dot product (see `kernels/compensated.rs`).
    pub dot_precise: PairFn<T>,
    /// 4 × 4 tile of dot products.
    pub tile_dot: TileFn<T>,
    /// 4 × 4 tile of squared distances.
    pub tile_sqeuclidean: TileFn<T>,
    /// Direct valid correlation. Writes the first `min(out.len(), a.len() + 1 - w.len())`
    /// outputs (all of them when `a.len() >= out.len() + w.len() - 1`); an empty `w`
    /// gives zeros.
    pub correlate_valid: CorrelateFn<T>,
    /// GEMM micro-kernel.
    pub gemm: GemmMicro<T>,
    /// CSR row × dense, 32-bit indices.
    pub csr_row_i32: CsrRowFn<T, i32>,
    /// CSR row × dense, 64-bit indices.
    pub csr_row_i64: CsrRowFn<T, i64>,
    /// FMA throughput probe: `iters` steps of 16 independent register FMAs
    /// (`iters · 16 · LANES · 2` flops; see `kernels/peak.rs`).
    pub fma_probe: FmaProbe<T>,
    /// Batched real FFT for power-of-two lengths up to `kernels::rfft::MAX_LEN`.
    pub rfft: RfftLanes<T>,
}

/// The FMA throughput probe of a tier and its flops per iteration.
#[derive(Debug, Clone, Copy)]
pub struct FmaProbe<T: 'static> {
    pub flops_per_iter: usize,
    pub run: fn(usize) -> T,
}

impl<T> FmaProbe<T> {
    /// One core's FMA ceiling in GFLOP/s: the median of `runs` timed runs of
    /// `iters` iterations on the calling thread.
    pub fn gflops(&self, iters: usize, runs: usize) -> f64 {
        let mut v: Vec<f64> = (0..runs.max(1))
            .map(|_| {
                let t = std::time::Instant::now();
                std::hint::black_box((self.run)(iters));
                (iters * self.flops_per_iter) as f64 / t.elapsed().as_secs_f64() / 1e9
            })
            .collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    }
}

/// All kernels of one tier.
#[derive(Debug)]
pub struct Kernels {
    pub tier: Tier,
    pub f32: ElemKernels<f32>,
    pub f64: ElemKernels<f64>,
}

/// Element types with kernels in the table.
pub trait HasKernels: Float {
    fn select(k: &'static Kernels) -> &'static ElemKernels<Self>;
}

impl HasKernels for f32 {
    #[inline(always)]
    fn select(k: &'static Kernels) -> &'static ElemKernels<f32> {
        &k.f32
    }
}

impl HasKernels for f64 {
    #[inline(always)]
    fn select(k: &'static Kernels) -> &'static ElemKernels<f64> {
        &k.f64
    }
}

#[inline(always)]
fn min_len<T>(a: &[&[T]; TILE], b: &[&[T]; TILE]) -> usize {
    a.iter().chain(b.iter()).map(|r| r.len()).min().unwrap_or(0)
}

/// Instantiates every kernel for one tier in a module of its own.
///
/// `$features` must be exactly the features [`cpu`] checks before it reports the tier.
macro_rules! tier_table {
    ($module:ident, $tier:expr, $isa:ty, $lanes_f64:literal, ($mv:literal, $nr:literal), $features:literal) => {
        mod $module {
            use super::*;
            use crate::kernels::{compensated, reduce, tile};

            macro_rules! with_features {
                ($name:ident, $safe:ident, $t:ty, $body:expr) => {
                    #[target_feature(enable = $features)]
                    unsafe fn $name(a: &[$t], b: &[$t]) -> $t {
                        // SAFETY: the features are enabled on this function.
                        #[allow(unused_unsafe)]
                        unsafe {
                            $body(a, b)
                        }
                    }
                    fn $safe(a: &[$t], b: &[$t]) -> $t {
                        // SAFETY: this function is only reachable through the table
                        // below, which `for_tier`/`active` hand out only when the CPU
                        // supports the tier's features.
                        unsafe { $name(a, b) }
                    }
                };
            }
            macro_rules! tile_with_features {
                ($name:ident, $safe:ident, $t:ty, $op:ty) => {
                    #[target_feature(enable = $features)]
                    unsafe fn $name(a: [*const $t; TILE], b: [*const $t; TILE], d: usize) -> [[$t; TILE]; TILE] {
                        // SAFETY: features enabled here; pointers valid for `d` (caller).
                        unsafe { tile::tile_4x4::<$t, $isa, $op>(a, b, d) }
                    }
                    fn $safe(a: [&[$t]; TILE], b: [&[$t]; TILE]) -> [[$t; TILE]; TILE] {
                        let d = min_len(&a, &b);
                        // SAFETY: every row holds at least `d` elements; the table is
                        // only handed out on CPUs with the tier's features.
                        unsafe { $name(a.map(|r| r.as_ptr()), b.map(|r| r.as_ptr()), d) }
                    }
                };
            }

            macro_rules! correlate_with_features {
                ($name:ident, $safe:ident, $t:ty) => {
                    #[target_feature(enable = $features)]
                    unsafe fn $name(a: &[$t], w: &[$t], out: &mut [$t]) {
                        // SAFETY: features enabled here; lengths checked by the caller.
                        unsafe { crate::kernels::correlate::correlate_valid::<$t, $isa>(a, w, out) }
                    }
                    fn $safe(a: &[$t], w: &[$t], out: &mut [$t]) {
                        if w.is_empty() || a.len() < w.len() {
                            out.fill(0.0);
                            return;
                        }
                        let n = out.len().min(a.len() + 1 - w.len());
                        // SAFETY: a.len() >= n + w.len() - 1 and w is non-empty; the
                        // table is only handed out on CPUs with the tier's features.
                        unsafe { $name(a, w, &mut out[..n]) }
                    }
                };
            }

            macro_rules! gemm_with_features {
                ($name:ident, $cols:ident, $t:ty) => {
                    #[target_feature(enable = $features)]
                    unsafe fn $name(kc: usize, a: *const $t, b: *const $t, c: *mut $t, ldc: usize, acc: bool) {
                        // SAFETY: features enabled here; pointer ranges guaranteed by the
                        // caller (GemmMicroFn contract).
                        unsafe { crate::kernels::gemm::micro_tile::<$t, $isa, $mv, $nr>(kc, a, b, c, ldc, acc) }
                    }
                    #[target_feature(enable = $features)]
                    #[allow(clippy::too_many_arguments)]
                    unsafe fn $cols(
                        kc: usize,
                        a: *const $t,
                        a_step: usize,
                        b: *const $t,
                        b_step: usize,
                        b_col: usize,
                        c: *mut $t,
                        ldc: usize,
                        acc: bool,
                    ) {
                        // SAFETY: features enabled here; pointer ranges guaranteed by the
                        // caller (GemmStridedFn contract).
                        unsafe {
                            crate::kernels::gemm::micro_tile_strided::<$t, $isa, $mv, $nr>(
                                kc, a, a_step, b, b_step, b_col, c, ldc, acc,
                            )
                        }
                    }
                };
            }

            macro_rules! csr_with_features {
                ($name:ident, $safe:ident, $t:ty, $i:ty) => {
                    #[target_feature(enable = $features)]
                    unsafe fn $name(d: &[$t], i: &[$i], b: *const $t, ldb: usize, kdim: usize, out: &mut [$t]) -> bool {
                        // SAFETY: features enabled here; ranges checked by the safe wrapper.
                        unsafe { crate::kernels::spmm::csr_row::<$t, $isa, $i>(d, i, b, ldb, kdim, out) }
                    }
                    fn $safe(d: &[$t], i: &[$i], b: &[$t], ldb: usize, kdim: usize, out: &mut [$t]) -> bool {
                        let n = out.len();
                        assert!(d.len() == i.len() && n <= ldb.max(1), "csr_row: inconsistent arguments");
                        // Checked: (kdim - 1)·ldb + n must not wrap past the comparison.
                        let fits = match kdim.checked_sub(1) {
                            None => true,
                            Some(r) => r.checked_mul(ldb).and_then(|x| x.checked_add(n)).is_some_and(|e| e <= b.len()),
                        };
                        assert!(fits, "csr_row: b too short");
                        // SAFETY: rows 0..kdim of b are in range (asserted); the kernel
                        // rejects indices >= kdim before reading; the table is only
                        // handed out on CPUs with the tier's features.
                        unsafe { $name(d, i, b.as_ptr(), ldb, kdim, out) }
                    }
                };
            }

            macro_rules! peak_with_features {
                ($name:ident, $safe:ident, $t:ty) => {
                    #[target_feature(enable = $features)]
                    unsafe fn $name(iters: usize) -> $t {
                        // SAFETY: features enabled here.
                        unsafe { crate::kernels::peak::fma_chains::<$t, $isa>(iters) }
                    }
                    fn $safe(iters: usize) -> $t {
                        // SAFETY: the table is only handed out on CPUs with the tier's features.
                        unsafe { $name(iters) }
                    }
                };
            }

            macro_rules! rfft_with_features {
                ($name:ident, $safe:ident, $t:ty) => {
                    #[target_feature(enable = $features)]
                    #[allow(clippy::too_many_arguments)]
                    unsafe fn $name(
                        plan: &RfftPlan<$t>,
                        src: *const $t,
                        ld_src: usize,
                        n_read: usize,
                        rows: usize,
                        scale: $t,
                        work: *mut $t,
                        out: *mut $t,
                        ld_out: usize,
                        next: crate::kernels::rfft::Upcoming<$t>,
                    ) {
                        // SAFETY: features enabled here; ranges checked by the safe wrapper.
                        unsafe {
                            crate::kernels::rfft::rfft_rows::<$t, $isa>(
                                plan, src, ld_src, n_read, rows, scale, work, out, ld_out, next,
                            )
                        }
                    }
                    #[allow(clippy::too_many_arguments)]
                    fn $safe(
                        plan: &RfftPlan<$t>,
                        src: &[$t],
                        ld_src: usize,
                        n_read: usize,
                        rows: usize,
                        scale: $t,
                        work: &mut [$t],
                        out: &mut [$t],
                        ld_out: usize,
                        next: &[$t],
                        next_rows: usize,
                    ) {
                        let lanes = <$isa as crate::simd::Simd<$t>>::LANES;
                        let n = plan.len();
                        // `(rows - 1) · ld + len` in checked arithmetic: a wrapped
                        // product would pass the comparison.
                        let span = |rows: usize, ld: usize, len: usize| {
                            (rows - 1).checked_mul(ld).and_then(|v| v.checked_add(len))
                        };
                        let fits = |rows: usize, ld: usize, len: usize, have: usize| {
                            span(rows, ld, len).is_some_and(|need| need <= have)
                        };
                        assert!((1..=lanes).contains(&rows) && n_read <= n, "rfft: bad batch");
                        assert!(fits(rows, ld_src, n_read, src.len()), "rfft: src too short");
                        assert!(
                            n.checked_add(2).is_some_and(|row| fits(rows, ld_out, row, out.len())),
                            "rfft: out too short"
                        );
                        assert!(work.len() >= plan.work_len(lanes), "rfft: work too short");
                        assert!(next_rows == 0 || fits(next_rows, ld_src, n_read, next.len()), "rfft: next too short");
                        let next = crate::kernels::rfft::Upcoming {
                            src: next.as_ptr(),
                            ld: ld_src,
                            rows: next_rows,
                            len: n_read,
                        };
                        // SAFETY: ranges asserted above; `work` is a separate &mut so it
                        // overlaps neither; the table is only handed out on CPUs with
                        // the tier's features.
                        unsafe {
                            $name(
                                plan,
                                src.as_ptr(),
                                ld_src,
                                n_read,
                                rows,
                                scale,
                                work.as_mut_ptr(),
                                out.as_mut_ptr(),
                                ld_out,
                                next,
                            )
                        }
                    }
                };
            }

            rfft_with_features!(rfft_f32_k, rfft_f32, f32);
            rfft_with_features!(rfft_f64_k, rfft_f64, f64);
            peak_with_features!(peak_f32_k, peak_f32, f32);
            peak_with_features!(peak_f64_k, peak_f64, f64);
            gemm_with_features!(gemm_f32, gemm_strided_f32, f32);
            gemm_with_features!(gemm_f64, gemm_strided_f64, f64);
            csr_with_features!(csr_f32_i32_k, csr_f32_i32, f32, i32);
            csr_with_features!(csr_f32_i64_k, csr_f32_i64, f32, i64);
            csr_with_features!(csr_f64_i32_k, csr_f64_i32, f64, i32);
            csr_with_features!(csr_f64_i64_k, csr_f64_i64, f64, i64);
            with_features!(dot_f32_k, dot_f32, f32, reduce::pair_reduce::<f32, $isa, reduce::DotOp>);
            with_features!(dot_f64_k, dot_f64, f64, reduce::pair_reduce::<f64, $isa, reduce::DotOp>);
            with_features!(sqeuclidean_f32_k, sqeuclidean_f32, f32, reduce::pair_reduce::<f32, $isa, reduce::SqDiffOp>);
            with_features!(sqeuclidean_f64_k, sqeuclidean_f64, f64, reduce::pair_reduce::<f64, $isa, reduce::SqDiffOp>);
            with_features!(dot_precise_f32_k, dot_precise_f32, f32, compensated::dot2_f32::<$lanes_f64>);
            with_features!(dot_precise_f64_k, dot_precise_f64, f64, compensated::dot2_f64::<$lanes_f64>);
            tile_with_features!(tile_dot_f32_k, tile_dot_f32, f32, reduce::DotOp);
            tile_with_features!(tile_dot_f64_k, tile_dot_f64, f64, reduce::DotOp);
            tile_with_features!(tile_sqeuclidean_f32_k, tile_sqeuclidean_f32, f32, reduce::SqDiffOp);
            tile_with_features!(tile_sqeuclidean_f64_k, tile_sqeuclidean_f64, f64, reduce::SqDiffOp);
            correlate_with_features!(correlate_valid_f32_k, correlate_valid_f32, f32);
            correlate_with_features!(correlate_valid_f64_k, correlate_valid_f64, f64);

            pub(super) static TABLE: Kernels = Kernels {
                tier: $tier,
                f32: ElemKernels {
                    dot: dot_f32,
                    sqeuclidean: sqeuclidean_f32,
                    dot_precise: dot_precise_f32,
                    tile_dot: tile_dot_f32,
                    tile_sqeuclidean: tile_sqeuclidean_f32,
                    correlate_valid: correlate_valid_f32,
                    gemm: GemmMicro {
                        mr: $mv * <$isa as crate::simd::Simd<f32>>::LANES,
                        nr: $nr,
                        kernel: gemm_f32,
                        kernel_strided: gemm_strided_f32,
                    },
                    csr_row_i32: csr_f32_i32,
                    csr_row_i64: csr_f32_i64,
                    fma_probe: FmaProbe {
                        flops_per_iter: 2 * crate::kernels::peak::CHAINS * <$isa as crate::simd::Simd<f32>>::LANES,
                        run: peak_f32,
                    },
                    rfft: RfftLanes { lanes: <$isa as crate::simd::Simd<f32>>::LANES, run: rfft_f32 },
                },
                f64: ElemKernels {
                    dot: dot_f64,
                    sqeuclidean: sqeuclidean_f64,
                    dot_precise: dot_precise_f64,
                    tile_dot: tile_dot_f64,
                    tile_sqeuclidean: tile_sqeuclidean_f64,
                    correlate_valid: correlate_valid_f64,
                    gemm: GemmMicro {
                        mr: $mv * <$isa as crate::simd::Simd<f64>>::LANES,
                        nr: $nr,
                        kernel: gemm_f64,
                        kernel_strided: gemm_strided_f64,
                    },
                    csr_row_i32: csr_f64_i32,
                    csr_row_i64: csr_f64_i64,
                    fma_probe: FmaProbe {
                        flops_per_iter: 2 * crate::kernels::peak::CHAINS * <$isa as crate::simd::Simd<f64>>::LANES,
                        run: peak_f64,
                    },
                    rfft: RfftLanes { lanes: <$isa as crate::simd::Simd<f64>>::LANES, run: rfft_f64 },
                },
            };
        }
    };
}

// The scalar tier enables nothing beyond the target's baseline.
#[cfg(target_arch = "x86_64")]
tier_table!(scalar, Tier::Scalar, crate::simd::scalar::Scalar, 4, (4, 4), "sse2");
#[cfg(target_arch = "aarch64")]
tier_table!(scalar, Tier::Scalar, crate::simd::scalar::Scalar, 4, (4, 4), "neon");

#[cfg(target_arch = "x86_64")]
tier_table!(x86_64_v2, Tier::X86_64V2, crate::simd::sse::Sse, 2, (2, 4), "sse2,sse3,ssse3,sse4.1,sse4.2,popcnt");
#[cfg(target_arch = "x86_64")]
tier_table!(
    x86_64_v3,
    Tier::X86_64V3,
    crate::simd::avx2::Avx2,
    4,
    (2, 6),
    "sse2,sse3,ssse3,sse4.1,sse4.2,popcnt,avx,avx2,fma"
);
#[cfg(target_arch = "x86_64")]
tier_table!(
    x86_64_v4,
    Tier::X86_64V4,
    crate::simd::avx512::Avx512,
    8,
    (2, 12),
    "sse2,sse3,ssse3,sse4.1,sse4.2,popcnt,avx,avx2,fma,avx512f,avx512bw,avx512vl,avx512dq"
);
#[cfg(target_arch = "aarch64")]
tier_table!(neon, Tier::Neon, crate::simd::neon::Neon, 2, (2, 8), "neon");

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("mlkern supports x86_64 and aarch64 targets");

/// The table of `tier`, if this CPU supports it.
pub fn for_tier(tier: Tier) -> Option<&'static Kernels> {
    if tier.is_supported() {
        table(tier)
    } else {
        None
    }
}

/// The table of `tier`, without checking the CPU (callers guarantee support).
#[inline]
fn table(tier: Tier) -> Option<&'static Kernels> {
    match tier {
        Tier::Scalar => Some(&scalar::TABLE),
        #[cfg(target_arch = "x86_64")]
        Tier::X86_64V2 => Some(&x86_64_v2::TABLE),
        #[cfg(target_arch = "x86_64")]
        Tier::X86_64V3 => Some(&x86_64_v3::TABLE),
        #[cfg(target_arch = "x86_64")]
        Tier::X86_64V4 => Some(&x86_64_v4::TABLE),
        #[cfg(target_arch = "aarch64")]
        Tier::Neon => Some(&neon::TABLE),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// The table of the active tier.
#[inline]
pub fn active() -> &'static Kernels {
    // The atomic in `cpu` only ever holds tiers this CPU supports.
    table(cpu::active()).unwrap_or(&scalar::TABLE)
}

/// The kernels of the active tier for element type `T`.
#[inline]
pub fn kernels<T: HasKernels>() -> &'static ElemKernels<T> {
    T::select(active())
}
