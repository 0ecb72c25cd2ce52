"""mlkern.learn's MLPClassifier / MLPRegressor against scikit-learn's: the same
random_state gives the same initialisation, batches and trajectory, so loss
curves and weights agree to rounding; scikit-learn's estimator checks; bad input;
persistence; thread independence; callbacks and verbose output."""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
import warnings

import numpy as np
import pytest
from sklearn import neural_network as sknn
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

import mlkern
from mlkern import learn

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@parametrize_with_checks([learn.MLPClassifier(max_iter=100), learn.MLPRegressor(max_iter=100)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _clf_data(dtype=np.float64, classes=3, n=600):
    X, y = make_classification(n, 8, n_classes=classes, n_informative=5, random_state=1)
    return X.astype(dtype), y


CASES = [
    dict(),
    dict(solver="sgd"),
    dict(solver="sgd", nesterovs_momentum=False, momentum=0.5),
    dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.05),
    dict(solver="sgd", learning_rate="adaptive", tol=1.0, n_iter_no_change=1, learning_rate_init=0.05),
    dict(activation="tanh", alpha=0.01),
    dict(activation="logistic", batch_size=64),
    dict(activation="identity", hidden_layer_sizes=(5, 4, 3)),
    dict(shuffle=False, batch_size=130),
    dict(tol=10.0, n_iter_no_change=2),
]


@pytest.mark.parametrize("kw", CASES)
@pytest.mark.parametrize("classes", [2, 3])
def test_classifier_follows_sklearn_float64(kw, classes):
    X, y = _clf_data(classes=classes)
    kw = {"hidden_layer_sizes": (16, 8), "max_iter": 6, "random_state": 0, **kw}
    a = sknn.MLPClassifier(**kw).fit(X, y)
    b = learn.MLPClassifier(**kw).fit(X, y)
    assert b.n_iter_ == a.n_iter_ and b.t_ == a.t_
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-10)
    for c1, c2 in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_allclose(c2, c1, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(b.predict_proba(X), a.predict_proba(X), rtol=1e-8, atol=1e-10)
    assert (b.predict(X) == a.predict(X)).mean() > 0.999
    assert b.out_activation_ == a.out_activation_ and b.n_layers_ == a.n_layers_ and b.n_outputs_ == a.n_outputs_


def test_classifier_follows_sklearn_float32():
    X, y = _clf_data(np.float32)
    kw = dict(hidden_layer_sizes=(16,), max_iter=5, random_state=0, solver="sgd")
    a, b = sknn.MLPClassifier(**kw).fit(X, y), learn.MLPClassifier(**kw).fit(X, y)
    assert b.coefs_[0].dtype == np.float32 and b.predict_proba(X).dtype == np.float32
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-5)
    np.testing.assert_allclose(b.predict_proba(X), a.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
@pytest.mark.parametrize("targets", [1, 3])
@pytest.mark.parametrize("early", [False, True])
def test_regressor_follows_sklearn(loss, targets, early):
    X, y = make_regression(500, 6, n_targets=targets, noise=1.0, random_state=2)
    y = y / np.abs(y).max()
    if loss == "poisson":
        y = np.abs(y) * 3
    kw = dict(loss=loss, hidden_layer_sizes=(12,), max_iter=6, random_state=0, early_stopping=early)
    w = np.random.RandomState(0).uniform(0.5, 2, 500)
    a, b = sknn.MLPRegressor(**kw).fit(X, y, sample_weight=w), learn.MLPRegressor(**kw).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(b.predict(X), a.predict(X), rtol=1e-8, atol=1e-9)
    if early:
        np.testing.assert_allclose(b.validation_scores_, a.validation_scores_, rtol=1e-8)
        assert b.best_validation_score_ == pytest.approx(a.best_validation_score_)
    assert b.predict(X).shape == a.predict(X).shape
    assert b.score(X, y) == pytest.approx(a.score(X, y), rel=1e-8)


def test_partial_fit_follows_sklearn():
    X, y = _clf_data(classes=3)
    kw = dict(hidden_layer_sizes=(10,), random_state=0)
    a, b = sknn.MLPClassifier(**kw), learn.MLPClassifier(**kw)
    for i in range(3):
        sl = slice(200 * i, 200 * (i + 1))
        a.partial_fit(X[sl], y[sl], classes=[0, 1, 2])
        b.partial_fit(X[sl], y[sl], classes=[0, 1, 2])
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(b.predict_proba(X), a.predict_proba(X), rtol=1e-8, atol=1e-10)
    assert b.n_iter_ == a.n_iter_ == 1 and b.t_ == a.t_


def test_warm_start_continues():
    X, y = _clf_data()
    kw = dict(hidden_layer_sizes=(8,), max_iter=2, random_state=0, warm_start=True)
    a, b = sknn.MLPClassifier(**kw), learn.MLPClassifier(**kw)
    for _ in range(2):
        a.fit(X, y)
        b.fit(X, y)
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-10)


def test_string_labels_multilabel_and_proba_layout():
    X, y = _clf_data(classes=3)
    labels = np.array(["cat", "dog", "emu"])[y]
    m = learn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(X, labels)
    assert set(m.predict(X)) <= set(labels) and list(m.classes_) == ["cat", "dog", "emu"]
    p = m.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-12)
    np.testing.assert_allclose(m.predict_log_proba(X), np.log(p))
    Y = np.stack([y == 0, y == 1, (y == 2) | (y == 0)], axis=1).astype(int)
    kw = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    a, b = sknn.MLPClassifier(**kw).fit(X, Y), learn.MLPClassifier(**kw).fit(X, Y)
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-10)
    assert (b.predict(X) == a.predict(X)).all() and b.predict(X).shape == Y.shape


def test_multiclass_early_stopping_follows_sklearn():
    X, y = _clf_data(n=800)
    kw = dict(hidden_layer_sizes=(16,), max_iter=12, random_state=0, early_stopping=True, learning_rate_init=0.01)
    a, b = sknn.MLPClassifier(**kw).fit(X, y), learn.MLPClassifier(**kw).fit(X, y)
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-10)
    np.testing.assert_allclose(b.validation_scores_, a.validation_scores_)
    np.testing.assert_allclose(b.predict_proba(X), a.predict_proba(X), rtol=1e-8, atol=1e-10)


def test_x_sharing_memory_with_the_weights_is_refused_and_failed_refits_change_nothing():
    X, y = _clf_data(n=300)
    m = learn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X, y)
    w = m.coefs_[1]  # (8, 3): 8 features when read as X
    assert not w.flags.writeable
    with pytest.raises(ValueError, match="shares memory"):
        m.partial_fit(m._packed[:24].reshape(3, 8), [0, 1, 2])
    before = m.predict_proba(X)
    with pytest.raises(ValueError, match="one class"):
        m.fit(X, np.zeros(len(y)))
    assert list(m.classes_) == [0, 1, 2]
    np.testing.assert_array_equal(m.predict_proba(X), before)


def test_early_stopping_classifier_restores_the_best_weights():
    X, y = _clf_data(n=1000)
    kw = dict(hidden_layer_sizes=(16,), max_iter=60, random_state=0, early_stopping=True, n_iter_no_change=3,
              learning_rate_init=0.01)
    m = learn.MLPClassifier(**kw).fit(X, y)
    assert len(m.validation_scores_) == m.n_iter_ < 60
    assert m.best_validation_score_ == max(m.validation_scores_)
    best = int(np.argmax(m.validation_scores_)) + 1
    # The same fit stopped at the best epoch (no early-stopping rule left to fire
    # before it) ends at the restored weights.
    again = learn.MLPClassifier(**{**kw, "max_iter": best}).fit(X, y)
    np.testing.assert_array_equal(again.coefs_[0], m.coefs_[0])
    ref = sknn.MLPClassifier(**kw).fit(X, y)
    assert m.score(X, y) > 0.7 and abs(m.score(X, y) - ref.score(X, y)) < 0.1


def test_thread_count_does_not_change_the_fit():
    X, y = _clf_data(np.float32, n=3000)
    kw = dict(hidden_layer_sizes=(40, 20), max_iter=3, random_state=0, batch_size=500)
    try:
        mlkern.set_num_threads(1)
        one = learn.MLPClassifier(**kw).fit(X, y)
        mlkern.set_num_threads(2)
        two = learn.MLPClassifier(**kw).fit(X, y)
    finally:
        mlkern.set_num_threads(2)
    for a, b in zip(one.coefs_, two.coefs_):
        assert np.array_equal(a, b)
    assert one.loss_curve_ == two.loss_curve_


def test_one_row_predict_matches_batch_and_other_dtype():
    X, y = _clf_data()
    m = learn.MLPClassifier(hidden_layer_sizes=(9,), max_iter=5, random_state=0).fit(X, y)
    batch = m.predict_proba(X)
    for i in (0, 17, 599):
        np.testing.assert_allclose(m.predict_proba(X[i:i + 1]), batch[i:i + 1], rtol=1e-12)
    p32 = m.predict_proba(X.astype(np.float32))
    assert p32.dtype == np.float32
    np.testing.assert_allclose(p32, batch, atol=1e-5)
    np.testing.assert_allclose(m.predict_proba(np.asfortranarray(X)), batch, rtol=1e-12)
    np.testing.assert_allclose(m.predict_proba(X.tolist()), batch, rtol=1e-12)


def test_bad_input_is_a_clear_error():
    X, y = _clf_data()
    m = learn.MLPClassifier(hidden_layer_sizes=(4,), max_iter=2)
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        m.fit(bad, y)
    with pytest.raises(ValueError, match="inconsistent"):
        m.fit(X, y[:-1])
    with pytest.raises(ValueError, match="2D"):
        m.fit(X[:, 0], y)
    with pytest.raises(ValueError, match="dim"):
        m.fit(X[:, :, None], y)
    with pytest.raises(ValueError, match="0 sample"):
        m.fit(X[:0], y[:0])
    with pytest.raises(ValueError, match="0 feature"):
        m.fit(X[:, :0], y)
    with pytest.raises(ValueError, match="one class"):
        m.fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="Negative"):
        m.fit(X, y, sample_weight=-np.ones(len(y)))
    sp = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="densify"):
        m.fit(sp.csr_matrix(X), y)
    with pytest.raises(ValueError, match="must be > 0"):
        learn.MLPClassifier(hidden_layer_sizes=(4, 0)).fit(X, y)
    with pytest.raises(ValueError, match="activation"):
        learn.MLPClassifier(activation="gelu").fit(X, y)
    with pytest.raises(ValueError, match="lbfgs"):
        learn.MLPClassifier(solver="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="loss"):
        learn.MLPRegressor(loss="huber").fit(X, y)
    with pytest.raises(ValueError, match="negative"):
        learn.MLPRegressor(loss="poisson").fit(X, -np.abs(y) - 1.0)
    m.fit(X, y)
    with pytest.raises(ValueError, match="features"):
        m.predict(X[:, :5])
    with pytest.raises(ValueError, match="NaN"):
        m.predict(bad)
    with pytest.raises(ValueError, match="NaN"):
        m.predict(bad[3:4])
    with pytest.raises(ValueError, match="classes must be passed"):
        learn.MLPClassifier().partial_fit(X, y)
    p = learn.MLPClassifier(hidden_layer_sizes=(4,)).partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="classes"):
        p.partial_fit(X, y + 5)
    with pytest.raises(ValueError, match="early_stopping"):
        learn.MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="too small"):
        learn.MLPRegressor(early_stopping=True, validation_fraction=0.1).fit(X[:5], y[:5])
    with pytest.raises(learn.NotFittedError):
        learn.MLPRegressor().predict(X)


def test_pickle_save_load_and_tampering(tmp_path):
    X, y = _clf_data()
    for m in (learn.MLPClassifier(hidden_layer_sizes=(6, 5), max_iter=3, random_state=0).fit(X, y),
              learn.MLPRegressor(hidden_layer_sizes=(6,), max_iter=3, random_state=0).fit(X, y * 1.0)):
        ref = m.predict(X)
        m2 = pickle.loads(pickle.dumps(m))
        assert np.array_equal(m2.predict(X), ref)
        path = tmp_path / f"{type(m).__name__}.npz"
        m.save(path)
        m3 = learn.load(path)
        assert type(m3) is type(m) and np.array_equal(m3.predict(X), ref)
        assert m3.loss_curve_ == m.loss_curve_ and m3.n_iter_ == m.n_iter_
        m3.partial_fit(X, y) if isinstance(m3, learn.MLPRegressor) else m3.partial_fit(X, y, classes=[0, 1, 2])
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
        arrays["_packed"] = arrays["_packed"][:-1]
        bad = tmp_path / "bad.npz"
        np.savez(bad, **arrays)
        with pytest.raises(ValueError, match="not a valid"):
            learn.load(bad)
        bad.write_bytes(path.read_bytes()[:100])
        with pytest.raises(ValueError):
            learn.load(bad)


def test_callback_stops_and_verbose_prints(capsys):
    X, y = _clf_data()
    seen = []

    def cb(info):
        seen.append(info)
        return info["epoch"] < 3

    m = learn.MLPClassifier(hidden_layer_sizes=(4,), max_iter=50, random_state=0, callback=cb, verbose=True).fit(X, y)
    assert m.n_iter_ == 3 and [s["epoch"] for s in seen] == [1, 2, 3]
    assert seen[-1]["loss"] == m.loss_ and seen[-1]["samples_per_s"] > 0
    assert "Iteration 3, loss = " in capsys.readouterr().out


def test_convergence_warning_and_coefs_assignment():
    X, y = _clf_data()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        m = learn.MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    assert any(issubclass(x.category, ConvergenceWarning) for x in w)
    before = m.predict_proba(X)
    with pytest.raises(ValueError):
        m.coefs_[0][0, 0] = 1.0  # read-only views: assign a new list instead
    m.coefs_ = [c * 0 for c in m.coefs_]
    after = m.predict_proba(X)
    assert not np.allclose(before, after) and np.allclose(after, after[0])
    with pytest.raises(ValueError):
        m.coefs_ = [np.zeros((2, 2))]


@pytest.mark.skipif(os.name != "posix", reason="SIGINT via os.kill")
def test_ctrl_c_stops_within_a_second_at_the_last_epoch():
    X, y = _clf_data(np.float32, n=20_000)
    kw = dict(hidden_layer_sizes=(128, 128), max_iter=100_000, tol=0.0, n_iter_no_change=10**9, random_state=0)
    m = learn.MLPClassifier(**kw)
    timer = threading.Timer(0.8, lambda: os.kill(os.getpid(), signal.SIGINT))
    start = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        m.fit(X, y)
    assert time.perf_counter() - start < 0.8 + 1.0
    assert m.n_iter_ >= 1 and len(m.loss_curve_) == m.n_iter_ and m.t_ == 20_000 * m.n_iter_
    # The weights are those of the last completed epoch: the same fit stopped there.
    again = learn.MLPClassifier(**{**kw, "max_iter": m.n_iter_}).fit(X, y)
    for a, b in zip(m.coefs_ + m.intercepts_, again.coefs_ + again.intercepts_):
        np.testing.assert_array_equal(a, b)


def test_fits_in_concurrent_python_threads_match_sequential_fits():
    X, y = _clf_data(np.float32, n=4000)
    kws = [dict(hidden_layer_sizes=(32,), max_iter=4, random_state=s) for s in range(4)]
    ref = [learn.MLPClassifier(**kw).fit(X, y) for kw in kws]
    out: list = [None] * 4

    def run(i):
        out[i] = learn.MLPClassifier(**kws[i]).fit(X, y)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(ref, out):
        assert b is not None and all(np.array_equal(c, d) for c, d in zip(a.coefs_, b.coefs_))
