"""One 64-bit seed from a ``random_state``, shared by the modules that take one
(conformal's randomized sets, hdc's encoders and models)."""

from __future__ import annotations

import numbers
import secrets
from typing import Any

import numpy as np


def seed_from(random_state: Any) -> int:
    """A seed in ``[0, 2**64)``: fresh entropy for ``None``, ``int % 2**64`` for an
    int, one draw from a NumPy ``Generator`` or ``RandomState``."""
    if random_state is None:
        return secrets.randbits(64)
    if isinstance(random_state, (bool, np.bool_)):
        raise TypeError("random_state must be None, an int, or a numpy Generator/RandomState")
    if isinstance(random_state, numbers.Integral):
        return int(random_state) % (1 << 64)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 1 << 63)) * 2 + 1
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 1 << 62)) * 4 + 3
    raise TypeError("random_state must be None, an int, or a numpy Generator/RandomState")
