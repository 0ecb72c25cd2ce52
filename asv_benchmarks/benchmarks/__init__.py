"""mlkern's asv benchmarks: each class times mlkern beside the peer a user would call.

Peers at their best: ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` (set on some
machines) force NumPy/SciPy's OpenBLAS onto other kernels than it picks for the CPU
(Haswell's AVX2 kernels on an AVX-512 CPU: float32 GEMM ~60 instead of ~200
GFLOP/s), and OpenBLAS reads them once, when it is loaded. asv's runner imports
NumPy before this package (asv_runner imports pympler, which imports NumPy), so in
an asv process that starts with either variable set, this package restarts the
process without them (the same command line, ``os.execve``; asv.conf.json sets
``"launch_method": "spawn"``, one argv-driven process per benchmark, so a restart
is safe). Elsewhere, e.g. imported before NumPy, dropping them from the
environment is enough. ``bench_vector.BlasPeers`` checks what the BLAS then runs
with threadpoolctl (tracked: 0 OpenBLAS libraries on a forced kernel; printed:
the kernels and what was dropped, ``asv run -e``).
"""

import json
import os
import subprocess
import sys

_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_MARKER = "MLKERN_BENCH_DROPPED_BLAS_ENV"  # set in the restarted process; also the loop guard


def _restart_without(present: dict[str, str]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in _OVERRIDES}
    env[_MARKER] = json.dumps(present)
    cmd = [sys.executable, *sys.orig_argv[1:]]
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "nt":  # no exec on Windows: run the child, pass its exit code on
        os._exit(subprocess.call(cmd, env=env))
    os.execve(sys.executable, cmd, env)


_present = {k: os.environ[k] for k in _OVERRIDES if k in os.environ}
if _present and _MARKER not in os.environ and "numpy" in sys.modules and "asv_runner" in sys.modules:
    _restart_without(_present)  # does not return
for _k in _OVERRIDES:
    os.environ.pop(_k, None)  # unsetenv: enough where NumPy has not loaded OpenBLAS yet

# The overrides this benchmark process was started without (or dropped before NumPy loaded).
DROPPED_BLAS_ENV: dict[str, str] = json.loads(os.environ.get(_MARKER, "{}")) or _present
