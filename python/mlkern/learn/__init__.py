"""scikit-learn-compatible estimators trained on mlkern's kernels.

``LinearRegression`` and ``Ridge`` solve the normal equations of the centred data
(one pass over ``X`` on the packed GEMM, then a blocked Cholesky factorisation).
``LogisticRegression`` minimises scikit-learn's objective by L-BFGS, each loss and
gradient evaluation one fused, parallel pass over ``X``. ``SGDClassifier`` and
``SGDRegressor`` run scikit-learn's SGD (every loss, penalty and schedule,
averaging, early stopping, ``partial_fit``) in Rust, one-vs-all classes in parallel.
``MLPClassifier`` and ``MLPRegressor`` run scikit-learn's epoch loop with each
epoch's batches in Rust: forward and backward passes on the GEMM, every batch split
into 64-row blocks across the threads, Adam or momentum SGD.

Names, parameters, defaults, fitted attributes and return layouts are
scikit-learn's; the estimators pass ``sklearn.utils.estimator_checks``
(``tests/test_learn.py`` runs them). scikit-learn itself is not needed: it is
imported only by scikit-learn's own machinery (``__sklearn_tags__``).

Reproducibility: a fit's result does not depend on the thread count
(``mlkern.set_num_threads``). The rows are summed in chunks whose size depends only
on the shape of ``X`` and the chunks are added in order.

Persistence: estimators pickle, and ``est.save(path)`` / ``mlkern.learn.load(path)``
(or ``Cls.load(path)``) write and read an ``.npz`` file of plain arrays with a
JSON header (``format``: ``"mlkern.learn/1"``), read with ``allow_pickle=False``:
loading never runs code from the file, and a corrupt, truncated or tampered file
is a ``ValueError``.
"""

from mlkern.learn._base import ConvergenceWarning, NotFittedError, load
from mlkern.learn._linear import LinearRegression, LogisticRegression, Ridge
from mlkern.learn._mlp import MLPClassifier, MLPRegressor
from mlkern.learn._sgd import SGDClassifier, SGDRegressor

__all__ = ["ConvergenceWarning", "LinearRegression", "LogisticRegression", "MLPClassifier", "MLPRegressor",
           "NotFittedError", "Ridge", "SGDClassifier", "SGDRegressor", "load"]
