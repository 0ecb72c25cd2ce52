"""Shared fixtures: run tests under every SIMD tier this CPU supports."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import mlkern
from mlkern import _mlkern

TIERS = mlkern.cpu_info()["available_tiers"]
DTYPES = [np.float32, np.float64]
# Unit roundoff u = eps / 2.
UNIT = {np.float32: 2.0**-24, np.float64: 2.0**-53}


def gamma(n: int, dtype: type) -> float:
    """γ_n = n u / (1 - n u): the worst-case relative bound of an n-term dot product."""
    nu = n * UNIT[dtype]
    return nu / (1 - nu)


@pytest.fixture(params=TIERS)
def tier(request: pytest.FixtureRequest) -> Iterator[str]:
    """Switches the active SIMD tier for one test, then restores it."""
    before = mlkern.cpu_info()["tier"]
    _mlkern._set_tier(request.param)
    assert mlkern.cpu_info()["tier"] == request.param
    try:
        yield request.param
    finally:
        _mlkern._set_tier(before)


@pytest.fixture(params=DTYPES, ids=["f32", "f64"])
def dtype(request: pytest.FixtureRequest) -> type:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


# -- hypothesis profiles of the differential campaign (tests/test_differential_*.py) --
# "mlkern-short" (default): fixed seed (derandomize), no deadline, no example
# database, no shrinking: the normal pytest run is reproducible and bounded (the
# differential suite in well under 90 s on 2 cores). "mlkern-long" (MLKERN_FUZZ=long,
# run by scripts/fuzz-long.sh, which draws and prints a random --hypothesis-seed per
# round): random seeds, many more examples (tests/_strategies.budget multiplies each
# test's count by MLKERN_FUZZ_EXAMPLES, default 20), shrinking, failures kept in a
# database ($MLKERN_FUZZ_DB). Tests elsewhere that set their own settings keep them.
import os as _os  # noqa: E402

from hypothesis import HealthCheck as _HealthCheck  # noqa: E402
from hypothesis import Phase as _Phase  # noqa: E402
from hypothesis import settings as _settings  # noqa: E402
from hypothesis.database import DirectoryBasedExampleDatabase as _Database  # noqa: E402

_SUPPRESS = [_HealthCheck.function_scoped_fixture, _HealthCheck.too_slow, _HealthCheck.data_too_large]
# The short profile does not shrink failures (bounded time; the long one does).
_settings.register_profile("mlkern-short", derandomize=True, deadline=None, database=None,
                           print_blob=True, suppress_health_check=_SUPPRESS,
                           phases=[_Phase.explicit, _Phase.reuse, _Phase.generate, _Phase.target])
_settings.register_profile("mlkern-long", derandomize=False, deadline=None, print_blob=True,
                           suppress_health_check=_SUPPRESS, max_examples=1000,
                           database=_Database(_os.environ.get("MLKERN_FUZZ_DB", "/tmp/mlkern-fuzz-db")))
_settings.load_profile("mlkern-long" if _os.environ.get("MLKERN_FUZZ", "") == "long" else "mlkern-short")


def pytest_report_header(config: pytest.Config) -> str:
    name = getattr(_settings, "get_current_profile_name", lambda: _settings._current_profile)()
    return (f"hypothesis profile: {name}, tiers {TIERS}"
            f" (MLKERN_FUZZ={_os.environ.get('MLKERN_FUZZ', '')!r})")
