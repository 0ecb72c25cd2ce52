"""``python -m mlkern``: report the CPU tier, then benchmark mlkern against NumPy/SciPy.

Usage::

    python -m mlkern                     # CPU report + full benchmark table
    python -m mlkern info                # CPU report only
    python -m mlkern bench [--quick] [--json [PATH]] [--threads N]

``--quick`` runs fewer sizes and repeats (about 30 s). ``--json`` writes the results
as JSON to PATH, or to standard output with ``--json -`` (the table then goes to
standard error). Figures are medians of interleaved runs and the speed-up is the
median of per-pair ratios (peer time / mlkern time), measured in this one process.

Every command but ``info`` first restarts itself without ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE`` when either is set (they force NumPy's OpenBLAS onto slower
kernels, and OpenBLAS reads them only when it loads); the header says what was
dropped and which kernel each BLAS library runs. ``info`` reports the environment
as it is.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

import mlkern


def print_info(out: TextIO = sys.stdout) -> None:
    info = mlkern.cpu_info()

    def p(line: str) -> None:
        print(line, file=out)

    p(f"mlkern {mlkern.__version__} on {info['arch']}")
    p(f"  SIMD tier:       {info['tier']} (best available: {info['best_tier']})")
    p(f"  available tiers: {', '.join(info['available_tiers'])}")
    p(f"  CPU features:    {' '.join(info['features'])}")
    p(f"  threads:         {info['num_threads']} (mlkern.set_num_threads / MLKERN_NUM_THREADS)")


def print_blas(out: TextIO = sys.stdout) -> None:
    """The kernel each BLAS library of the peers runs, and whether the overrides were dropped."""
    from mlkern import _bench

    _bench.load_peer_libraries()
    print(_bench.blas_env_line(), file=out)
    print("BLAS libraries of the peers (threadpoolctl):", file=out)
    for line in _bench.blas_library_lines(_bench.blas_libraries()):
        print(line, file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlkern", description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("info", help="print the CPU report")
    sub.add_parser("calibrate-convolve", help="measure convolution methods and fit the cost model of method='auto'")
    bench = sub.add_parser("bench", help="benchmark mlkern against NumPy/SciPy (default)")
    for p in (parser, bench):
        p.add_argument("--quick", action="store_true", help="fewer sizes and repeats (about 30 s)")
        p.add_argument("--json", nargs="?", const="-", metavar="PATH", help="write results as JSON (to stdout with '-')")
        p.add_argument("--threads", type=int, default=None, help="threads for mlkern and the peers (default: min(2, CPUs))")
        p.add_argument("--only", action="append", metavar="SECTION",
                       help="run only these sections (dot, cdist, topk, signal, conformal, hdc, learn, attention, linalg); repeatable")
        p.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # tiny sizes, for tests
    restart = argv is None  # run as a program; a caller's own process is left as it is
    args = parser.parse_args(argv)
    if restart and args.command != "info":
        from mlkern import _bench

        _bench.reexec_without_blas_overrides()  # the same command line; returns if nothing to drop

    table_out = sys.stderr if args.json == "-" else sys.stdout
    print_info(table_out)
    if args.command == "info":
        print_blas(table_out)
        return 0
    if args.command == "calibrate-convolve":
        from mlkern import _calibrate

        _calibrate.calibrate()
        return 0

    from mlkern import _bench

    threads = args.threads or _bench.default_threads()
    quick = args.quick or args.smoke
    cfg = _bench.Config(
        quick=quick,
        threads=threads,
        pairs=3 if args.smoke else (5 if quick else 15),
        min_repeat_s=0.002 if args.smoke else 0.02,
        smoke=args.smoke,
        only=tuple(args.only or ()),
    )
    print(f"\nmlkern vs peers, {threads} thread(s) each side", file=table_out)
    with _bench._Limits(threads):
        print_blas(table_out)
    print("speed-up = median over interleaved pairs of (peer time / mlkern time); > 1 means mlkern is faster\n", file=table_out)
    print(_bench.HEADER, file=table_out)
    result = _bench.run(cfg, out=lambda s: print(s, file=table_out, flush=True))
    if result["import_overhead_s"] is not None:
        print(f"\nimport mlkern after numpy: {result['import_overhead_s'] * 1e3:.1f} ms (median of fresh processes)", file=table_out)
    if args.json:
        text = _bench.to_json(result)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w", encoding="utf-8") as f:
                f.write(text + "\n")
            print(f"\nwrote {args.json}", file=table_out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
