"""`python -m mlkern`: the CPU report and the benchmark CLI (tiny sizes via --smoke)."""

from __future__ import annotations

import json
import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlkern", *args], capture_output=True, text=True, timeout=300)


def test_info_reports_tier_and_features() -> None:
    r = run("info")
    assert r.returncode == 0, r.stderr
    assert "SIMD tier:" in r.stdout and "available tiers:" in r.stdout and "CPU features:" in r.stdout


def test_bench_json_to_stdout_has_every_workload() -> None:
    r = run("bench", "--smoke", "--json", "-", "--threads", "1")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)  # the table went to stderr, JSON alone to stdout
    assert "speed-up" in r.stderr
    assert result["threads"] == 1 and result["cpu"]["tier"]
    workloads = {row["workload"].split()[0] for row in result["rows"]}
    assert workloads == {"dot", "cdist", "topk", "rfft", "convolve", "describe", "rolling", "welch", "matmul",
                         "randomized_svd", "csr_matmul"}
    peers = {row["peer"] for row in result["rows"]}
    assert {"numpy.dot", "scipy cdist", "numpy GEMM+argpartition", "scipy.stats.describe", "scipy.signal.welch",
            "numpy a @ b (OpenBLAS)", "sklearn randomized_svd", "scipy.sparse a @ b", "mlkern classical"} <= peers
    for row in result["rows"]:
        assert row["mlkern_s"] > 0 and row["peer_s"] > 0 and row["speedup"] > 0
        assert row["threads"] == 1


def test_calibrate_convolve_prints_constants() -> None:
    r = run("calibrate-convolve")
    assert r.returncode == 0, r.stderr
    assert "CostModel { direct_per_mac:" in r.stdout and "auto within 15 % of the fastest" in r.stdout


def test_bench_json_to_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bench.json"
    r = run("bench", "--smoke", "--json", str(path))
    assert r.returncode == 0, r.stderr
    assert json.loads(path.read_text())["rows"]
    assert f"wrote {path}" in r.stdout


def test_bench_only_selects_sections() -> None:
    r = run("bench", "--smoke", "--json", "-", "--threads", "2", "--only", "linalg")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    assert {row["workload"].split()[0] for row in rows} == {"matmul", "randomized_svd", "csr_matmul"}
    assert {row["threads"] for row in rows if row["workload"].startswith("matmul 64x64")} == {1, 2}
    assert all("FMA ceiling" in row["throughput"] for row in rows if row["workload"].startswith("matmul"))
