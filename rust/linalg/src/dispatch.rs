//! linalg's kernel table: the GEMM micro-kernels and the CSR row kernels of every
//! tier, instantiated with [`mlkern_core::per_tier!`] (see `mlkern_core::dispatch`
//! for why the safe wrappers below are sound).

use mlkern_core::Tier;

use crate::kernels::micro::TileShape;

/// GEMM micro-kernel: `C[0..mr, 0..nr] (+)= Ã · B̃` (see `kernels/micro.rs`), arguments
/// `(kc, ã, b̃, c, ldc, accumulate)`.
///
/// # Safety (of calling it)
/// `ã` valid for `kc · mr` reads, `b̃` for `kc · nr` reads, and the tile
/// `c[i + j · ldc]` (`i < mr`, `j < nr`) for reads and writes. (The pointer itself
/// is only ever read from a table that `for_tier`/`active` handed out, so the CPU
/// has its tier's features.)
pub type GemmMicroFn<T> = unsafe fn(usize, *const T, *const T, *mut T, usize, bool);

/// The same tile with both operands read in place at strides (see
/// `kernels/micro.rs::micro_tile_strided`), arguments
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

/// linalg's kernels for one element type at one tier.
#[derive(Debug)]
pub struct ElemKernels<T: 'static> {
    /// GEMM micro-kernel.
    pub gemm: GemmMicro<T>,
    /// The tier's second tile, for products whose `MR` side has at most its `mr`
    /// rows (on AVX-512 f32, `32 × 12` beside the `64 × 6` above: no half-empty
    /// panels for `64 × 100 000 @ 100 000 × 32`); the same shape as `gemm` on the
    /// other tiers. Both tiles of a tier have the same `KC` (`gemm.rs`), so the
    /// rounding of an entry does not depend on which one computed it.
    pub gemm_narrow: GemmMicro<T>,
    /// CSR row × dense, 32-bit indices.
    pub csr_row_i32: CsrRowFn<T, i32>,
    /// CSR row × dense, 64-bit indices.
    pub csr_row_i64: CsrRowFn<T, i64>,
}

/// linalg's kernels of one tier.
#[derive(Debug)]
pub struct Kernels {
    pub tier: Tier,
    pub f32: ElemKernels<f32>,
    pub f64: ElemKernels<f64>,
}

macro_rules! linalg_tier {
    ($module:ident, $tier:expr, $isa:ty, $features:literal) => {
        mod $module {
            use super::*;
            use crate::kernels::{micro, spmm};
            use mlkern_core::simd::Simd;

            macro_rules! gemm_with_features {
                ($name:ident, $cols:ident, $t:ty, $mv:expr, $nr:expr) => {
                    #[target_feature(enable = $features)]
                    unsafe fn $name(kc: usize, a: *const $t, b: *const $t, c: *mut $t, ldc: usize, acc: bool) {
                        // SAFETY: features enabled here; pointer ranges guaranteed by the
                        // caller (GemmMicroFn contract).
                        unsafe { micro::micro_tile::<$t, $isa, { $mv }, { $nr }>(kc, a, b, c, ldc, acc) }
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
                            micro::micro_tile_strided::<$t, $isa, { $mv }, { $nr }>(
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
                        unsafe { spmm::csr_row::<$t, $isa, $i>(d, i, b, ldb, kdim, out) }
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

            // The driver's edge-tile buffer holds every tier's tiles.
            const _: () = assert!(
                <$isa as TileShape<f32>>::MV * <$isa as Simd<f32>>::LANES * <$isa as TileShape<f32>>::NR
                    <= crate::gemm::EDGE_TILE_LEN
                    && <$isa as TileShape<f64>>::MV * <$isa as Simd<f64>>::LANES * <$isa as TileShape<f64>>::NR
                        <= crate::gemm::EDGE_TILE_LEN
                    && <$isa as TileShape<f32>>::NARROW_MV
                        * <$isa as Simd<f32>>::LANES
                        * <$isa as TileShape<f32>>::NARROW_NR
                        <= crate::gemm::EDGE_TILE_LEN
                    && <$isa as TileShape<f64>>::NARROW_MV
                        * <$isa as Simd<f64>>::LANES
                        * <$isa as TileShape<f64>>::NARROW_NR
                        <= crate::gemm::EDGE_TILE_LEN
            );

            gemm_with_features!(
                gemm_f32,
                gemm_strided_f32,
                f32,
                <$isa as TileShape<f32>>::MV,
                <$isa as TileShape<f32>>::NR
            );
            gemm_with_features!(
                gemm_f64,
                gemm_strided_f64,
                f64,
                <$isa as TileShape<f64>>::MV,
                <$isa as TileShape<f64>>::NR
            );
            gemm_with_features!(
                gemm_narrow_f32,
                gemm_narrow_strided_f32,
                f32,
                <$isa as TileShape<f32>>::NARROW_MV,
                <$isa as TileShape<f32>>::NARROW_NR
            );
            gemm_with_features!(
                gemm_narrow_f64,
                gemm_narrow_strided_f64,
                f64,
                <$isa as TileShape<f64>>::NARROW_MV,
                <$isa as TileShape<f64>>::NARROW_NR
            );
            csr_with_features!(csr_f32_i32_k, csr_f32_i32, f32, i32);
            csr_with_features!(csr_f32_i64_k, csr_f32_i64, f32, i64);
            csr_with_features!(csr_f64_i32_k, csr_f64_i32, f64, i32);
            csr_with_features!(csr_f64_i64_k, csr_f64_i64, f64, i64);

            pub(super) static TABLE: Kernels = Kernels {
                tier: $tier,
                f32: ElemKernels {
                    gemm: GemmMicro {
                        mr: <$isa as TileShape<f32>>::MV * <$isa as Simd<f32>>::LANES,
                        nr: <$isa as TileShape<f32>>::NR,
                        kernel: gemm_f32,
                        kernel_strided: gemm_strided_f32,
                    },
                    gemm_narrow: GemmMicro {
                        mr: <$isa as TileShape<f32>>::NARROW_MV * <$isa as Simd<f32>>::LANES,
                        nr: <$isa as TileShape<f32>>::NARROW_NR,
                        kernel: gemm_narrow_f32,
                        kernel_strided: gemm_narrow_strided_f32,
                    },
                    csr_row_i32: csr_f32_i32,
                    csr_row_i64: csr_f32_i64,
                },
                f64: ElemKernels {
                    gemm: GemmMicro {
                        mr: <$isa as TileShape<f64>>::MV * <$isa as Simd<f64>>::LANES,
                        nr: <$isa as TileShape<f64>>::NR,
                        kernel: gemm_f64,
                        kernel_strided: gemm_strided_f64,
                    },
                    gemm_narrow: GemmMicro {
                        mr: <$isa as TileShape<f64>>::NARROW_MV * <$isa as Simd<f64>>::LANES,
                        nr: <$isa as TileShape<f64>>::NARROW_NR,
                        kernel: gemm_narrow_f64,
                        kernel_strided: gemm_narrow_strided_f64,
                    },
                    csr_row_i32: csr_f64_i32,
                    csr_row_i64: csr_f64_i64,
                },
            };
        }
    };
}

// `unsafe`: every kernel in a tier\'s table is behind that tier\'s `$features` above.
mlkern_core::per_tier!(unsafe linalg_tier =>
    /// linalg's kernels, one table per tier of this architecture.
    pub static TABLES: Kernels);

/// linalg's table of `tier`, if this CPU supports it.
pub fn for_tier(tier: Tier) -> Option<&'static Kernels> {
    TABLES.for_tier(tier)
}

/// linalg's kernels of the active tier for element type `T`.
#[inline]
pub fn kernels<T: crate::Scalar>() -> &'static ElemKernels<T> {
    T::select_linalg(TABLES.active())
}
