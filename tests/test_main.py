"""`python -m mlkern`: the CPU report and the benchmark CLI (tiny sizes via --smoke)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest


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
    # conformal: LAC against NumPy always, APS/RAPS against MAPIE when it is installed
    assert "LAC" in workloads
    assert workloads - {"LAC", "APS", "RAPS"} == {"dot", "cdist", "topk", "rfft", "convolve", "describe", "rolling",
                                                  "welch", "matmul", "randomized_svd", "csr_matmul", "hdc",
                                                  "LogisticRegression", "Ridge", "SGDClassifier", "MLPClassifier",
                                                  "attention"}
    # hdc: the encoder against NumPy always, Hamming against numkong (else NumPy), the classifier
    hdc_rows = {" ".join(row["workload"].split()[:3]) for row in result["rows"] if row["workload"].startswith("hdc")}
    assert {"hdc encode projection", "hdc cdist_hamming 200x200", "hdc HDClassifier digits"} <= hdc_rows
    peers = {row["peer"] for row in result["rows"]}
    assert {"numpy.dot", "scipy cdist", "numpy GEMM formulation", "sklearn cosine_similarity",
            "numpy GEMM+argpartition", "scipy.stats.describe", "scipy.signal.welch",
            "numpy a @ b (OpenBLAS)", "sklearn randomized_svd", "scipy.sparse a @ b", "mlkern classical"} <= peers
    # vector rows: every cdist metric against SciPy and the NumPy GEMM formulation, topk for a similarity and a distance
    cdist = {(row["workload"].split()[1], row["peer"]) for row in result["rows"] if row["workload"].startswith("cdist")}
    assert {(m, p) for m in ("euclidean", "sqeuclidean", "cosine") for p in ("scipy cdist", "numpy GEMM formulation")} <= cdist
    assert {row["workload"].split()[1] for row in result["rows"] if row["workload"].startswith("topk")} == {"dot", "euclidean"}
    assert result["blas_libraries"] and "blas_env" in result
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


# --- peers at their best: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are dropped by a restart ---

FORCED = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "512"}
BLAS_PROBE = "import json, numpy, threadpoolctl; print(json.dumps(threadpoolctl.threadpool_info()))"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in FORCED and k != "MLKERN_BENCH_DROPPED_BLAS_ENV"}
    env.update(extra)
    return env


def _openblas_kernels(env: dict[str, str]) -> dict[str, str]:
    """{library file: architecture} of the OpenBLAS libraries NumPy loads in a plain process."""
    r = subprocess.run([sys.executable, "-c", BLAS_PROBE], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    return {os.path.basename(i["filepath"]): i["architecture"] for i in json.loads(r.stdout)
            if i["internal_api"] == "openblas"}


def test_bench_restarts_without_forced_openblas_kernels() -> None:
    pytest.importorskip("threadpoolctl")
    r = subprocess.run([sys.executable, "-m", "mlkern", "bench", "--smoke", "--json", "-", "--only", "dot"],
                       capture_output=True, text=True, timeout=300, env=_env(**FORCED))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["blas_env"] == {"dropped": FORCED, "present": {}}
    assert "BLAS environment: dropped OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=512" in r.stderr
    assert result["rows"] and result["blas_libraries"]
    for lib in result["blas_libraries"]:
        assert {"internal_api", "version", "architecture", "num_threads"} <= set(lib)
        assert f"kernel {lib['architecture'] or '-'}" in r.stderr
    native, forced = _openblas_kernels(_env()), _openblas_kernels(_env(**FORCED))
    if platform.machine().lower() not in ("x86_64", "amd64") or not native:
        pytest.skip("the override is checked where NumPy runs an x86-64 OpenBLAS")
    assert set(forced.values()) == {"Haswell"}, forced  # the variables do force the kernel in a plain process
    ran = {os.path.basename(lib["filepath"]): lib["architecture"] for lib in result["blas_libraries"]
           if lib["internal_api"] == "openblas"}
    assert ran and all(ran[name] == native[name] for name in ran if name in native), (ran, native)


def test_bench_without_overrides_reports_none() -> None:
    r = subprocess.run([sys.executable, "-m", "mlkern", "bench", "--smoke", "--json", "-", "--only", "dot"],
                       capture_output=True, text=True, timeout=300, env=_env())
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["blas_env"] == {"dropped": {}, "present": {}}
    assert "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE not set" in r.stderr


def test_info_reports_the_environment_as_it_is() -> None:
    pytest.importorskip("threadpoolctl")
    r = subprocess.run([sys.executable, "-m", "mlkern", "info"], capture_output=True, text=True, timeout=120,
                       env=_env(**FORCED))
    assert r.returncode == 0, r.stderr
    assert "WARNING: OPENBLAS_CORETYPE=Haswell OPENBLAS_L2_SIZE=512 set in this process" in r.stdout
    assert "BLAS libraries of the peers (threadpoolctl):" in r.stdout


def test_main_in_process_leaves_the_environment_alone(monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """Called as a function (argv given), main never restarts the caller's process nor edits its environment."""
    from mlkern import __main__ as cli
    from mlkern import _bench

    _bench.load_peer_libraries()  # load SciPy's OpenBLAS before the variables are set, not under them
    for k, v in FORCED.items():
        monkeypatch.setenv(k, v)
    watched = (*FORCED, "MLKERN_BENCH_DROPPED_BLAS_ENV")
    before = {k: os.environ.get(k) for k in watched}
    assert cli.main(["info"]) == 0
    assert {k: os.environ.get(k) for k in watched} == before
    assert "set in this process" in capsys.readouterr().out


def test_bench_conformal_section_runs() -> None:
    r = run("bench", "--smoke", "--json", "-", "--only", "conformal")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    assert rows and rows[0]["workload"].startswith("LAC predict_sets")
    assert all(row["speedup"] > 0 for row in rows)


def test_bench_attention_section_runs() -> None:
    r = run("bench", "--smoke", "--json", "-", "--only", "attention")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    names = [row["workload"] for row in rows]
    assert "attention full b1 h2 s130 d16" in names and "attention causal b1 h2 s130 d16" in names
    assert all(row["speedup"] > 0 and "GFLOP/s" in row["throughput"] for row in rows)
    assert any("faster than our full" in row["notes"] for row in rows)


def test_bench_hdc_section_runs() -> None:
    r = run("bench", "--smoke", "--json", "-", "--only", "hdc")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    assert rows[0]["workload"].startswith("hdc encode projection") and rows[0]["peer"] == "numpy X@W>0 + packbits"
    assert any(row["workload"].startswith("hdc HDClassifier") and row["extra"]["accuracy_mlkern"] > 0.8 for row in rows)
    assert all(row["speedup"] > 0 for row in rows)


def test_bench_learn_section_runs() -> None:
    r = run("bench", "--smoke", "--json", "-", "--only", "learn")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    fit = rows[0]
    assert fit["workload"].startswith("LogisticRegression fit") and fit["peer"] == "sklearn LogisticRegression"
    assert abs(fit["extra"]["score_mlkern"] - fit["extra"]["score_peer"]) < 0.01
    assert {row["workload"].split(" ")[1] for row in rows} >= {"fit", "predict", "predict_proba"}
    assert all(row["speedup"] > 0 for row in rows)
    mlp = [row for row in rows if row["workload"].startswith("MLPClassifier")]
    assert [row["peer"] for row in mlp] == ["sklearn MLPClassifier", "mlkern on 1 thread", "sklearn predict",
                                            "sklearn predict_proba", "sklearn predict_proba"]
    assert abs(mlp[0]["extra"]["score_mlkern"] - mlp[0]["extra"]["score_peer"]) < 0.02
