"""Vector kernels: dot products, norms, pairwise scores and fused top-k search.

All functions take float32 or float64 NumPy arrays (both operands the same dtype;
other dtypes raise ``TypeError``, mlkern never promotes silently) and return NumPy
scalars or arrays of the input dtype (int64 for indices).

C-contiguous inputs are read in place. Strided views, big-endian arrays and Python
sequences are copied once into a contiguous array (documented copy). Work above a
few thousand elements runs with the GIL released, on mlkern's thread pool where it
is parallel.

Names follow SciPy and scikit-learn: ``cdist`` takes SciPy's default metric
(``"euclidean"``) and SciPy's meanings (``"cosine"`` is the distance
``1 - similarity``); similarities go by names that say so (``"cosine_similarity"``,
``"dot"``; ``cosine_similarity``/``cosine_distance`` for one pair, as scikit-learn's).
``topk`` returns ``(scores, indices)``, values first, as ``torch.topk`` and
scikit-learn's ``kneighbors``.
"""

from mlkern._mlkern import cdist, cosine_distance, cosine_similarity, dot, norm, sqeuclidean, topk

__all__ = ["cdist", "cosine_distance", "cosine_similarity", "dot", "norm", "sqeuclidean", "topk"]
