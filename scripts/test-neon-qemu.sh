#!/usr/bin/env bash
# Runs the Rust tests of mlkern-core, mlkern-linalg and mlkern-signal (each owns
# per-tier kernels) for aarch64 under qemu user emulation, so the NEON
# tier is tested against the exact references on an x86-64 machine.
#
# Needs: rustup's aarch64-unknown-linux-gnu std, Debian's gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross and qemu-user. Installs them when missing (root + apt).
# MLKERN_NEON_QEMU=1 fails if that is impossible; =auto (default) reports SKIPPED
# loudly and succeeds; =0 does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${MLKERN_NEON_QEMU:-auto}
[ "$MODE" = 0 ] && { echo "NEON under qemu: disabled (MLKERN_NEON_QEMU=0)"; exit 0; }

unavailable() {
    if [ "$MODE" = 1 ]; then echo "NEON under qemu: cannot set up: $1" >&2; exit 1; fi
    echo "*** SKIPPED: NEON tests under qemu: $1 (set MLKERN_NEON_QEMU=1 to make this an error)"
    exit 0
}

if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
    rustup target add aarch64-unknown-linux-gnu || unavailable "rustup cannot add the aarch64 target"
fi
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null) \
            || unavailable "apt-get cannot install the cross compiler and qemu-user"
    else
        unavailable "needs root and apt-get to install gcc-aarch64-linux-gnu and qemu-user"
    fi
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
cargo test -p mlkern-core -p mlkern-linalg -p mlkern-signal -p mlkern-conformal -p mlkern-hdc -p mlkern-learn --target aarch64-unknown-linux-gnu --release --locked
