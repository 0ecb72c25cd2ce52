#!/usr/bin/env bash
# The whole test suite: what README's second command runs and what CI (.ci/run) calls.
#
# Needs only Python >= 3.10 with pip and venv, and a Rust toolchain (cargo). It
#   1. checks formatting and lints (cargo fmt, clippy -D warnings),
#   2. runs the Rust tests of every crate (release, and the test profile with debug
#      assertions and overflow checks), compiles the criterion benches, and
#      runs the Rust tests for aarch64 under qemu (the NEON tier; see test-neon-qemu.sh),
#   3. builds a manylinux2014 abi3 wheel with maturin + zig (no Docker),
#   4. installs that wheel into a fresh virtual environment,
#   5. checks the type stubs against the built module (mypy.stubtest, mypy --strict),
#   6. runs pytest against the installed wheel (never the source tree).
# Not here (about 12 more minutes on two cores): bash scripts/memcheck.sh, the kernel
# tests under valgrind memcheck (GitHub CI runs it as its own job).
# Environment: MLKERN_TEST_VENV (default .venv-test), PYTHON (default python3),
# MLKERN_NEON_QEMU (auto|1|0, see test-neon-qemu.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${MLKERN_TEST_VENV:-$ROOT/.venv-test}
PYTHON=${PYTHON:-python3}
step() { printf '\n=== %s (%ss)\n' "$1" "$SECONDS"; }

step "python environment: $VENV"
"$PYTHON" -m venv --clear "$VENV"
# shellcheck disable=SC1091
source "$VENV/bin/activate"
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -r scripts/requirements-test.txt "ziglang>=0.13"

step "rust: fmt, clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --release --locked -- -D warnings

step "rust: tests (every SIMD tier this CPU has) and benches compile"
cargo test --workspace --release --locked
cargo bench -p mlkern-core -p mlkern-signal -p mlkern-linalg -p mlkern-conformal -p mlkern-hdc -p mlkern-learn --no-run --locked
cargo build --release --locked -p mlkern-linalg --examples

step "rust: tests in the test profile (debug assertions and overflow checks on)"
# [profile.test] sets only opt-level = 2; debug-assertions and overflow-checks keep
# the dev defaults (on): every debug_assert! and integer overflow is checked here.
cargo test --workspace --locked

step "rust: NEON tier under qemu-aarch64"
bash scripts/test-neon-qemu.sh

step "wheel: manylinux2014 abi3 via zig"
rm -rf "$ROOT/wheelhouse"
maturin build --release --locked --zig --compatibility manylinux2014 --out "$ROOT/wheelhouse"
python -m pip install --quiet --force-reinstall --no-deps "$ROOT"/wheelhouse/mlkern-*.whl

step "the installed wheel is what we test"
(cd / && python -c "import mlkern, sys; f = mlkern._mlkern.__file__; print(f); assert 'site-packages' in f, f; print(mlkern.cpu_info())")

step "type stubs"
(cd / && python -m mypy.stubtest mlkern._mlkern)
python -m mypy --config-file "$ROOT/pyproject.toml"

step "pytest"
python -m pytest -p no:cacheprovider -q tests

step "done"
