"""Aligned memory and object pools.

``BufferPool(max_bytes=None)`` hands out NumPy arrays whose 64-byte aligned memory
comes from a thread-safe pool and goes back to it when the array and all its views
are garbage-collected; ``pool.stats()`` reports ``hits``, ``misses`` and
``bytes_held``. mlkern's own kernels draw their packing buffers and temporaries
from an internal pool of the same kind, so repeated calls allocate nothing.
"""

from mlkern._mlkern import BufferPool

__all__ = ["BufferPool"]
