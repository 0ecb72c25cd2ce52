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
