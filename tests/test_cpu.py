"""CPU detection, the MLKERN_SIMD cap, the tier test hook."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import mlkern
from mlkern import _mlkern

ORDER = ["scalar", "x86-64-v2", "x86-64-v3", "x86-64-v4"]


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MLKERN_")}
    full_env.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=120)


def test_cpu_info_shape() -> None:
    info = mlkern.cpu_info()
    assert set(info) >= {"tier", "available_tiers", "features", "num_threads", "best_tier", "arch"}
    assert info["available_tiers"][0] == "scalar"
    assert info["tier"] in info["available_tiers"]
    assert info["best_tier"] == info["available_tiers"][-1]
    assert isinstance(info["num_threads"], int) and info["num_threads"] >= 1
    assert all(isinstance(f, str) for f in info["features"])


def test_tiers_follow_features() -> None:
    info = mlkern.cpu_info()
    feats = set(info["features"])
    if info["arch"] == "x86_64":
        assert info["available_tiers"] == ORDER[: len(info["available_tiers"])]
        has_v4 = {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx2", "fma"} <= feats
        assert ("x86-64-v4" in info["available_tiers"]) == has_v4
        assert ("x86-64-v3" in info["available_tiers"]) == ({"avx2", "fma"} <= feats)
    elif info["arch"] == "aarch64":
        assert ("neon" in info["available_tiers"]) == ("neon" in feats)


@pytest.mark.parametrize("tier", mlkern.cpu_info()["available_tiers"])
def test_env_caps_tier(tier: str) -> None:
    r = run_python("import json, mlkern; print(json.dumps(mlkern.cpu_info()))", MLKERN_SIMD=tier)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["tier"] == tier
    assert "RuntimeWarning" not in r.stderr


def test_env_alias_and_case() -> None:
    r = run_python("import mlkern; print(mlkern.cpu_info()['tier'])", MLKERN_SIMD="SCALAR")
    assert r.stdout.strip() == "scalar"


def test_env_unsupported_tier_falls_back_with_warning() -> None:
    info = mlkern.cpu_info()
    missing = [t for t in ORDER + ["neon"] if t not in info["available_tiers"]]
    if not missing:
        pytest.skip("this CPU supports every tier")
    r = run_python("import mlkern; print(mlkern.cpu_info()['tier'])", MLKERN_SIMD=missing[-1])
    assert r.returncode == 0, r.stderr
    assert "RuntimeWarning" in r.stderr and "does not support" in r.stderr
    assert r.stdout.strip() in info["available_tiers"]


def test_env_unknown_tier_warns_and_uses_best() -> None:
    r = run_python("import mlkern; print(mlkern.cpu_info()['tier'])", MLKERN_SIMD="avx1024")
    assert r.returncode == 0, r.stderr
    assert "RuntimeWarning" in r.stderr and "unknown SIMD tier" in r.stderr
    assert r.stdout.strip() == mlkern.cpu_info()["best_tier"]


def test_set_tier_hook_refuses_bad_tiers() -> None:
    with pytest.raises(ValueError, match="unknown SIMD tier"):
        _mlkern._set_tier("bogus")
    info = mlkern.cpu_info()
    for t in ORDER + ["neon"]:
        if t not in info["available_tiers"]:
            with pytest.raises(ValueError, match="not supported by this CPU"):
                _mlkern._set_tier(t)
    assert mlkern.cpu_info()["tier"] == info["tier"]


def test_import_is_light() -> None:
    r = run_python("import sys, mlkern; print('scipy' in sys.modules, 'mlkern.__main__' in sys.modules)")
    assert r.stdout.split() == ["False", "False"]
