"""mlkern.hdc against NumPy/SciPy references written from the definitions: packed
layout, popcount distances on every tier, the fused encoders, bundling, rotation,
the classifier on scikit-learn's digits, persistence and bad inputs."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import cdist as scipy_cdist
from scipy.spatial.distance import cosine as scipy_cosine

import mlkern
from mlkern import hdc


def bits(x: np.ndarray, D: int) -> np.ndarray:
    """The reference unpacking of the issue: np.unpackbits of the bytes, little."""
    x2 = np.atleast_2d(x)
    return np.unpackbits(x2.view(np.uint8), axis=1, bitorder="little")[:, :D].astype(np.uint8)


def pack_ref(b: np.ndarray) -> np.ndarray:
    b2 = np.atleast_2d(b).astype(np.uint8)
    D = b2.shape[1]
    words = (D + 63) // 64
    buf = np.zeros((b2.shape[0], words * 64), np.uint8)
    buf[:, :D] = b2
    return np.packbits(buf, axis=1, bitorder="little").view("<u8").astype(np.uint64)


AWKWARD_D = [1, 7, 63, 64, 65, 127, 128, 129, 500, 1000, 4097, 10000]


# ---------------------------------------------------------------- layout and ops


@pytest.mark.parametrize("D", AWKWARD_D)
def test_pack_unpack_layout(D: int) -> None:
    rng = np.random.default_rng(D)
    b = rng.random((5, D)) < 0.5
    p = hdc.pack_bits(b)
    assert p.dtype == np.uint64 and p.shape == (5, (D + 63) // 64)
    np.testing.assert_array_equal(p, pack_ref(b))
    np.testing.assert_array_equal(bits(p, D), b)
    np.testing.assert_array_equal(hdc.unpack_bits(p, D), b)
    np.testing.assert_array_equal(hdc.pack_bits(b[0]), p[0])


@pytest.mark.parametrize("D", AWKWARD_D)
def test_random_binary_and_map(D: int) -> None:
    a = hdc.random(20, D, random_state=3)
    assert a.shape == (20, (D + 63) // 64) and a.dtype == np.uint64
    np.testing.assert_array_equal(a, hdc.random(20, D, random_state=3))
    if D % 64:
        assert not (a[:, -1] >> np.uint64(D % 64)).any()
    m = hdc.random(4, D, kind="map", random_state=np.random.default_rng(1))
    assert m.dtype == np.float32 and m.shape == (4, D) and set(np.unique(m)) <= {-1.0, 1.0}
    big = hdc.random(50, 6400, random_state=9)
    assert abs(bits(big, 6400).mean() - 0.5) < 0.005


def test_random_does_not_depend_on_threads() -> None:
    before = mlkern.get_num_threads()
    try:
        mlkern.set_num_threads(1)
        one = hdc.random(300, 1000, random_state=5)
        mlkern.set_num_threads(2)
        two = hdc.random(300, 1000, random_state=5)
    finally:
        mlkern.set_num_threads(before)
    np.testing.assert_array_equal(one, two)


def test_bind_is_xor_and_product() -> None:
    a, b = hdc.random(3, 200, random_state=1), hdc.random(3, 200, random_state=2)
    np.testing.assert_array_equal(bits(hdc.bind(a, b), 200), bits(a, 200) ^ bits(b, 200))
    np.testing.assert_array_equal(hdc.bind(hdc.bind(a, b), b), a)
    np.testing.assert_array_equal(hdc.bind(a, b[0]), a ^ b[0])
    m1, m2 = hdc.random(2, 50, "map", 1), hdc.random(2, 50, "map", 2)
    np.testing.assert_array_equal(hdc.bind(m1, m2), m1 * m2)


@pytest.mark.parametrize("rows,D", [(1, 10), (2, 65), (3, 100), (4, 129), (255, 300), (256, 64), (257, 1000), (600, 130)])
def test_bundle_is_the_majority(tier: str, rows: int, D: int) -> None:
    X = hdc.random(rows, D, random_state=rows)
    got = bits(hdc.bundle(X, random_state=0), D)[0]
    count = bits(X, D).sum(axis=0)
    strict = 2 * count != rows
    np.testing.assert_array_equal(got[strict], (2 * count > rows)[strict])
    ties = ~strict
    if ties.sum() > 40:
        other = bits(hdc.bundle(X, random_state=1), D)[0]
        assert (other[ties] != got[ties]).any(), "the seed decides the ties"
        frac = got[ties].mean()
        assert 0.3 < frac < 0.7, "ties are broken by fair random bits"
    np.testing.assert_array_equal(hdc.bundle(X, random_state=7), hdc.bundle(X, random_state=7))
    if D % 64:
        assert not (hdc.bundle(X, random_state=0)[-1] >> np.uint64(D % 64))


def test_bundle_map_is_the_sum() -> None:
    M = hdc.random(5, 33, "map", 0)
    np.testing.assert_array_equal(hdc.bundle(M), M.sum(axis=0))


@settings(max_examples=60, deadline=None)
@given(D=st.integers(1, 700), k=st.integers(-2000, 2000), rows=st.integers(1, 4), seed=st.integers(0, 2**32))
def test_permute_is_np_roll_of_the_bits(D: int, k: int, rows: int, seed: int) -> None:
    x = hdc.random(rows, D, random_state=seed)
    got = hdc.permute(x, k, D)
    np.testing.assert_array_equal(bits(got, D), np.roll(bits(x, D), k, axis=1))
    np.testing.assert_array_equal(hdc.permute(got, -k, D), x)


def test_permute_one_vector_and_map() -> None:
    x = hdc.random(1, 130, random_state=1)[0]
    np.testing.assert_array_equal(bits(hdc.permute(x, 3, 130), 130)[0], np.roll(bits(x, 130)[0], 3))
    m = hdc.random(2, 10, "map", 1)
    np.testing.assert_array_equal(hdc.permute(m, 3), np.roll(m, 3, axis=-1))


# ---------------------------------------------------------------- distances


@pytest.mark.parametrize("D", AWKWARD_D)
def test_cdist_hamming_matches_scipy_on_every_tier(tier: str, D: int) -> None:
    for m, n in [(1, 1), (3, 5), (4, 4), (9, 13)]:
        A = hdc.random(m, D, random_state=m * D + 1)
        B = hdc.random(n, D, random_state=n * D + 2)
        want = np.rint(scipy_cdist(bits(A, D).astype(bool), bits(B, D).astype(bool), "hamming") * D).astype(np.int64)
        got = hdc.cdist_hamming(A, B)
        assert got.dtype == np.int64 and got.shape == (m, n)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(hdc.hamming(A[0], B[0]), want[0, 0])
        np.testing.assert_array_equal(hdc.hamming(A, B[0]), want[:, 0])
        if m == n:
            np.testing.assert_array_equal(hdc.hamming(A, B), np.diag(want))


def test_cdist_hamming_unaligned_and_strided_inputs(tier: str) -> None:
    D = 1000
    buf = hdc.random(21, D, random_state=1)
    A = buf[1::2]  # strided rows: copied once to C order
    B = np.ascontiguousarray(buf[:7])
    want = np.rint(scipy_cdist(bits(A, D).astype(bool), bits(B, D).astype(bool), "hamming") * D)
    np.testing.assert_array_equal(hdc.cdist_hamming(A, B), want)
    # An unaligned start: a view one uint64 into a bigger buffer.
    raw = np.zeros(1 + 5 * 16, np.uint64)
    raw[1:] = hdc.random(5, D, random_state=2).ravel()
    U = raw[1:].reshape(5, 16)
    np.testing.assert_array_equal(hdc.cdist_hamming(U, B), np.rint(scipy_cdist(bits(U, D).astype(bool), bits(B, D).astype(bool), "hamming") * D))


def test_cdist_hamming_large_blocks_and_threads() -> None:
    D = 4000
    A, B = hdc.random(37, D, random_state=3), hdc.random(1301, D, random_state=4)
    want = (bits(A, D)[:, None, :] != bits(B, D)[None, :, :]).sum(axis=2)
    np.testing.assert_array_equal(hdc.cdist_hamming(A, B), want)
    results: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: results.append(hdc.cdist_hamming(A, B))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, want)


@pytest.mark.parametrize("k", [1, 3, 17, 40])
def test_topk_hamming_nearest_first_ties_lower_index(tier: str, k: int) -> None:
    D = 70
    base = hdc.random(5, D, random_state=1)
    memory = base[np.arange(40) % 5]  # many exact ties
    q = hdc.random(6, D, random_state=2)
    idx, dist = hdc.topk_hamming(q, memory, k)
    full = hdc.cdist_hamming(q, memory)
    for r in range(6):
        order = np.lexsort((np.arange(40), full[r]))[:k]
        np.testing.assert_array_equal(idx[r], order)
        np.testing.assert_array_equal(dist[r], full[r, order])
    i1, d1 = hdc.topk_hamming(q[0], memory, k)
    np.testing.assert_array_equal(i1, idx[0])
    np.testing.assert_array_equal(d1, dist[0])


def test_cosine_and_cdist_map_follow_scipy() -> None:
    a, b = hdc.random(2, 100, "map", 1)
    assert hdc.cosine(a, b) == pytest.approx(scipy_cosine(a, b), abs=1e-12)
    A, B = hdc.random(4, 100, "map", 2), hdc.random(3, 100, "map", 3)
    np.testing.assert_allclose(hdc.cdist(A, B), scipy_cdist(A, B, "cosine"), atol=1e-5)
    np.testing.assert_allclose(hdc.cdist(A, B, "euclidean"), scipy_cdist(A, B), rtol=1e-5)


# ---------------------------------------------------------------- encoders


def _near_zero(z: np.ndarray, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Where the float32 projection's sign may differ from the float64 one."""
    bound = (x.shape[1] + 2) * np.finfo(np.float32).eps * (np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64)))
    return np.abs(z) <= bound


@pytest.mark.parametrize("f,D,n", [(1, 1, 1), (3, 65, 7), (32, 1000, 13), (17, 10000, 8), (64, 129, 19)])
def test_projection_encoder_matches_numpy(tier: str, f: int, D: int, n: int) -> None:
    rng = np.random.default_rng(f * D)
    X = rng.standard_normal((n, f)).astype(np.float32)
    enc = hdc.ProjectionEncoder(f, D, random_state=4)
    codes = enc.encode(X)
    assert codes.shape == (n, (D + 63) // 64) and codes.dtype == np.uint64
    z = X.astype(np.float64) @ enc.weights_.astype(np.float64)
    ok = ~_near_zero(z, X, enc.weights_)
    np.testing.assert_array_equal(bits(codes, D)[ok], (z > 0)[ok])
    if D % 64:
        assert not (codes[:, -1] >> np.uint64(D % 64)).any()
    vals = hdc.ProjectionEncoder(f, D, binary=False, random_state=4).encode(X)
    np.testing.assert_allclose(vals, z, rtol=1e-4, atol=1e-4 * np.abs(z).max())
    np.testing.assert_array_equal(enc.encode(X[0]), codes[0])


def test_projection_codes_estimate_the_angle() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 16))
    D = 20000
    codes = hdc.ProjectionEncoder(16, D, random_state=1).encode(X)
    est = hdc.cdist_hamming(codes, codes) / D
    cos = np.clip((X / np.linalg.norm(X, axis=1)[:, None]) @ (X / np.linalg.norm(X, axis=1)[:, None]).T, -1, 1)
    want = np.arccos(cos) / np.pi
    # Binomial spread: sqrt(p(1-p)/D) <= 0.0036; 5 sigma.
    assert np.abs(est - want).max() < 0.018


def test_projection_encoder_deterministic_and_thread_independent() -> None:
    X = np.random.default_rng(1).standard_normal((500, 32))
    a = hdc.ProjectionEncoder(32, 3000, random_state=7).encode(X)
    before = mlkern.get_num_threads()
    try:
        mlkern.set_num_threads(1)
        b = hdc.ProjectionEncoder(32, 3000, random_state=7).encode(X)
    finally:
        mlkern.set_num_threads(before)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, hdc.ProjectionEncoder(32, 3000, random_state=8).encode(X))


def test_sinusoid_encoder_matches_numpy(tier: str) -> None:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((9, 5)).astype(np.float32)
    enc = hdc.SinusoidEncoder(5, 130, random_state=2)
    z = X.astype(np.float64) @ enc.weights_.astype(np.float64)
    h = np.cos(z + enc.bias_) * np.sin(z)
    vals = hdc.SinusoidEncoder(5, 130, binary=False, random_state=2).encode(X)
    np.testing.assert_allclose(vals, h, atol=1e-4)
    ok = np.abs(h) > 1e-4
    np.testing.assert_array_equal(bits(enc.encode(X), 130)[ok], (h > 0)[ok])


def test_level_encoder_matches_numpy() -> None:
    D, f, L = 300, 6, 8
    enc = hdc.LevelEncoder(f, D, levels=L, low=-1, high=1, random_state=5)
    X = np.random.default_rng(1).uniform(-1.5, 1.5, (10, f))
    idx = enc.quantize(X)
    np.testing.assert_array_equal(idx, np.clip(np.rint((X + 1) / 2 * (L - 1)), 0, L - 1))
    ids, lv = bits(enc.ids_, D), bits(enc.level_vectors_, D)
    # Levels: 0 and the last differ in D/2 bits, neighbours in about D/(2(L-1)).
    assert (lv[0] != lv[-1]).sum() == D // 2
    assert abs((lv[0] != lv[1]).sum() - D / (2 * (L - 1))) <= 1
    count = (ids[None, :, :] ^ lv[idx]).sum(axis=1)
    got = bits(enc.encode(X), D)
    strict = 2 * count != f
    np.testing.assert_array_equal(got[strict], (2 * count > f)[strict])
    m = hdc.LevelEncoder(f, D, levels=L, low=-1, high=1, binary=False, random_state=5).encode(X)
    want = ((2.0 * ids - 1)[None] * (2.0 * lv[idx] - 1)).sum(axis=1)
    np.testing.assert_array_equal(m, want)


def test_ngram_encoder_matches_numpy() -> None:
    D, V, n = 200, 7, 3
    enc = hdc.NgramEncoder(V, D, n=n, random_state=3)
    book = bits(enc.codebook_, D)
    seqs = [np.array([0, 1, 2, 3, 4, 5, 6, 0]), np.array([6, 6, 6]), np.array([1, 2, 3, 1, 2, 3, 1, 2, 3, 4, 5])]
    got = bits(enc.encode(seqs), D)
    for r, s in enumerate(seqs):
        w = len(s) - n + 1
        grams = np.zeros((w, D), np.uint8)
        for i in range(n):
            grams ^= np.roll(book[s[i : i + w]], n - 1 - i, axis=1)
        count = grams.sum(axis=0)
        strict = 2 * count != w
        np.testing.assert_array_equal(got[r][strict], (2 * count > w)[strict])
    m = hdc.NgramEncoder(V, D, n=n, binary=False, random_state=3).encode(seqs)
    s = seqs[0]
    pm = 2.0 * book - 1
    want = sum(np.roll(pm[s[p]], 2) * np.roll(pm[s[p + 1]], 1) * pm[s[p + 2]] for p in range(len(s) - 2))
    np.testing.assert_array_equal(m[0], want)
    np.testing.assert_array_equal(enc.encode(np.array([[0, 1, 2], [3, 4, 5]])), enc.encode([[0, 1, 2], [3, 4, 5]]))


# ---------------------------------------------------------------- models


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    sc = StandardScaler().fit(Xtr)
    return sc.transform(Xtr), sc.transform(Xte), ytr, yte


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classifier_digits_accuracy(digits: tuple[np.ndarray, ...], seed: int) -> None:
    Xtr, Xte, ytr, yte = digits
    m = hdc.HDClassifier(D=10000, binary=True, random_state=seed).fit(Xtr, ytr)
    assert m.score(Xte, yte) >= 0.93  # the floor (torchhd's centroid: 0.878)
    centroid = hdc.HDClassifier(D=10000, epochs=0, random_state=seed).fit(Xtr, ytr)
    assert m.score(Xte, yte) > centroid.score(Xte, yte), "retraining improves on the centroids"


def test_classifier_map_and_sinusoid(digits: tuple[np.ndarray, ...]) -> None:
    Xtr, Xte, ytr, yte = digits
    assert hdc.HDClassifier(D=4000, binary=False, epochs=10, random_state=0).fit(Xtr, ytr).score(Xte, yte) >= 0.9
    assert hdc.HDClassifier(D=4000, encoder="sinusoid", epochs=10, random_state=0).fit(Xtr, ytr).score(Xte, yte) >= 0.93


def test_classifier_api(digits: tuple[np.ndarray, ...]) -> None:
    Xtr, Xte, ytr, yte = digits
    names = np.array(list("abcdefghij"))
    m = hdc.HDClassifier(D=2000, epochs=3, random_state=0).fit(Xtr, names[ytr])
    np.testing.assert_array_equal(m.classes_, names)
    p = m.predict_proba(Xte)
    assert p.shape == (len(Xte), 10)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_array_equal(m.classes_[p.argmax(axis=1)], m.predict(Xte))
    # Two fits with one seed agree; the model pickles.
    again = hdc.HDClassifier(D=2000, epochs=3, random_state=0).fit(Xtr, names[ytr])
    np.testing.assert_array_equal(again.predict(Xte), m.predict(Xte))
    back = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(back.predict(Xte), m.predict(Xte))
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_score

    c = clone(m)
    assert c.get_params() == m.get_params() and not hasattr(c, "classes_")
    scores = cross_val_score(hdc.HDClassifier(D=1000, epochs=2, random_state=0), Xtr, ytr, cv=3)
    assert scores.mean() > 0.8


def test_classifier_partial_fit(digits: tuple[np.ndarray, ...]) -> None:
    Xtr, Xte, ytr, yte = digits
    m = hdc.HDClassifier(D=4000, random_state=0)
    for i in range(0, len(Xtr), 200):
        m.partial_fit(Xtr[i : i + 200], ytr[i : i + 200], classes=np.arange(10))
    assert m.score(Xte, yte) > 0.85
    with pytest.raises(ValueError, match="not in classes"):
        m.partial_fit(Xtr[:3], np.array([1, 2, 11]))
    with pytest.raises(ValueError, match="classes must be given"):
        hdc.HDClassifier(D=100).partial_fit(Xtr[:3], ytr[:3])


def test_classifier_save_load(tmp_path: "pytest.TempPathFactory", digits: tuple[np.ndarray, ...]) -> None:
    Xtr, Xte, ytr, _ = digits
    for enc in ["projection", "sinusoid", "level"]:
        m = hdc.HDClassifier(D=1000, encoder=enc, epochs=2, random_state=3).fit(Xtr, ytr)
        path = tmp_path / f"{enc}.npz"  # type: ignore[operator]
        m.save(path)
        back = hdc.HDClassifier.load(path)
        np.testing.assert_array_equal(back.predict(Xte), m.predict(Xte))
    evil = tmp_path / "evil.npz"  # type: ignore[operator]
    np.savez(evil, header=np.array([{"format": "x"}], dtype=object))
    with pytest.raises(ValueError):
        hdc.HDClassifier.load(evil)


def test_classifier_bad_inputs(digits: tuple[np.ndarray, ...]) -> None:
    Xtr, Xte, ytr, _ = digits
    with pytest.raises(ValueError, match="D must be at least 1"):
        hdc.HDClassifier(D=0).fit(Xtr, ytr)
    with pytest.raises(ValueError, match="empty"):
        hdc.HDClassifier(D=100).fit(np.zeros((0, 64)), np.zeros(0))
    bad = Xtr.copy()
    bad[3, 5] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        hdc.HDClassifier(D=100).fit(bad, ytr)
    m = hdc.HDClassifier(D=100, epochs=1, random_state=0).fit(Xtr, ytr)
    with pytest.raises(ValueError, match="features"):
        m.predict(Xte[:, :10])
    with pytest.raises(AttributeError, match="not fitted"):
        hdc.HDClassifier().predict(Xte)
    with pytest.raises(ValueError, match="samples"):
        hdc.HDClassifier(D=100).fit(Xtr, ytr[:-1])
    with pytest.raises(ValueError, match="encoder"):
        hdc.HDClassifier(D=100, encoder="nope").fit(Xtr, ytr)


def test_associative_memory() -> None:
    D = 2000
    items = hdc.random(50, D, random_state=1)
    am = hdc.AssociativeMemory(D).add(items, labels=[f"item{i}" for i in range(50)])
    noisy = items[[3, 17]].copy()
    flip = hdc.pack_bits(np.random.default_rng(0).random((2, D)) < 0.2)
    noisy ^= flip
    labels, dist = am.query(noisy, k=2)
    assert list(labels[:, 0]) == ["item3", "item17"]
    assert (dist[:, 0] < dist[:, 1]).all()
    np.testing.assert_array_equal(am.cleanup(noisy), items[[3, 17]])
    with pytest.raises(ValueError, match="empty"):
        hdc.AssociativeMemory(D).query(items[:1])


# ---------------------------------------------------------------- bad inputs


def test_bad_inputs_name_the_argument() -> None:
    a = hdc.random(2, 100, random_state=1)
    with pytest.raises(ValueError, match="D must be at least 1"):
        hdc.random(2, 0)
    with pytest.raises(ValueError, match="D must be at least 1"):
        hdc.ProjectionEncoder(4, -3)
    with pytest.raises(ValueError, match="words"):
        hdc.cdist_hamming(a, hdc.random(2, 200, random_state=1))
    with pytest.raises(ValueError, match="D = 1000 needs 16"):
        hdc.permute(a, 1, 1000)
    with pytest.raises(TypeError, match="uint64"):
        hdc.cdist_hamming(a.astype(np.float64), a)
    with pytest.raises(TypeError, match="uint64"):
        hdc.hamming(a.astype(np.int64), a)
    bad = a.copy()
    bad[1, -1] |= np.uint64(1) << np.uint64(40)
    with pytest.raises(ValueError, match="padding"):
        hdc.permute(bad, 1, 100)
    with pytest.raises(ValueError, match="padding"):
        hdc.AssociativeMemory(100).add(bad)
    with pytest.raises(ValueError, match="k = 3"):
        hdc.topk_hamming(a, a, 3)
    with pytest.raises(ValueError, match="empty"):
        hdc.bundle(np.zeros((0, 2), np.uint64))
    enc = hdc.ProjectionEncoder(4, 100, random_state=0)
    with pytest.raises(ValueError, match="non-finite"):
        enc.encode(np.array([[1.0, np.nan, 0, 0]]))
    with pytest.raises(ValueError, match="features"):
        enc.encode(np.zeros((2, 5)))
    with pytest.raises(TypeError, match="numeric"):
        enc.encode(np.array([["a", "b", "c", "d"]]))
    with pytest.raises(ValueError, match="fewer than n"):
        hdc.NgramEncoder(5, 100, n=3, random_state=0).encode([np.array([1, 2])])
    with pytest.raises(ValueError, match="outside"):
        hdc.NgramEncoder(5, 100, n=2, random_state=0).encode([np.array([1, 5])])
    with pytest.raises(ValueError, match="low < high"):
        hdc.LevelEncoder(3, 100, low=1, high=1)
    with pytest.raises(ValueError, match="0 and 1"):
        hdc.pack_bits(np.array([0, 2, 1]))
    with pytest.raises(ValueError, match="kind"):
        hdc.random(1, 10, kind="bsc")


def test_kernel_name_matches_tier(tier: str) -> None:
    name = hdc.kernel_name()
    expected = {"scalar": {"scalar-swar"}, "x86-64-v2": {"popcnt"}, "x86-64-v3": {"avx2-nibble"},
                "x86-64-v4": {"avx2-nibble", "avx512-vpopcntdq"}, "neon": {"neon-cnt"}}[tier]
    assert name in expected
    if tier == "x86-64-v4" and "avx512vpopcntdq" in mlkern.cpu_info()["features"]:
        assert name == "avx512-vpopcntdq"


def test_review_regressions(tmp_path: "pytest.TempPathFactory", digits: tuple[np.ndarray, ...]) -> None:
    # A bundle seeded like its inputs does not return one of them.
    X = hdc.random(2, 1000, random_state=0)
    b = hdc.bundle(X, random_state=0)
    assert min(hdc.hamming(b, X[0]), hdc.hamming(b, X[1])) > 150
    # Sizes that cannot be allocated are a MemoryError, not a crash.
    with pytest.raises(MemoryError):
        hdc.random(2**58, 64)
    # float64 values are compared in float64.
    np.testing.assert_array_equal(hdc.sign_pack(np.array([1e-50, 1.0, -1e-50, 0.0])), np.array([3], np.uint64))
    Xtr, Xte, ytr, _ = digits
    # Two classes: decision_function is (n,), positive for classes_[1].
    two = ytr < 2
    m = hdc.HDClassifier(D=500, epochs=2, random_state=np.int64(3), lr=np.float32(1.0)).fit(Xtr[two], ytr[two])
    d = m.decision_function(Xte)
    assert d.shape == (len(Xte),)
    nz = d != 0
    np.testing.assert_array_equal(m.classes_[(d[nz] > 0).astype(int)], m.predict(Xte)[nz])
    # NumPy scalars in the parameters save, and the seed survives.
    path = tmp_path / "m.npz"  # type: ignore[operator]
    m.save(path)
    back = hdc.HDClassifier.load(path)
    assert back.random_state == 3
    np.testing.assert_array_equal(back.predict(Xte), m.predict(Xte))
    # A crafted file asking for a huge encoder is refused before anything is built.
    import json

    with np.load(path) as f:
        header = json.loads(str(f["header"]))
        classes, protos = f["classes"], f["prototypes"]
    header["encoder"]["params"]["n_features"] = 2**62
    evil = tmp_path / "huge.npz"  # type: ignore[operator]
    np.savez(evil, header=np.array(json.dumps(header)), classes=classes, prototypes=protos)
    with pytest.raises(ValueError, match="not a valid"):
        hdc.HDClassifier.load(evil)
    header["encoder"]["params"]["n_features"] = 64
    header["params"]["D"] = 999
    np.savez(evil, header=np.array(json.dumps(header)), classes=classes, prototypes=protos)
    with pytest.raises(ValueError, match="not a valid"):
        hdc.HDClassifier.load(evil)
    # A first partial_fit with a bad label leaves the model unfitted.
    fresh = hdc.HDClassifier(D=100)
    with pytest.raises(ValueError, match="not in classes"):
        fresh.partial_fit(Xtr[:3], np.array([0, 1, 12]), classes=np.arange(10))
    assert not hasattr(fresh, "classes_")


@pytest.mark.parametrize("binary_margin", [0.0, 0.05])
def test_classifier_training_matches_a_numpy_transcription(digits: tuple[np.ndarray, ...], binary_margin: float) -> None:
    """Centroids then retraining rounds, transcribed from the docstring into NumPy on
    unpacked ±1 codes; the prototypes must agree exactly (integer-valued sums)."""
    Xtr, _, ytr, _ = digits
    D, epochs, lr = 700, 4, 1.0
    m = hdc.HDClassifier(D=D, epochs=epochs, lr=lr, margin=binary_margin, random_state=5).fit(Xtr, ytr)
    codes = hdc.ProjectionEncoder(Xtr.shape[1], D, random_state=5).encode(Xtr)
    B = 2.0 * bits(codes, D) - 1.0
    C = np.zeros((10, D))
    for c in range(10):
        C[c] = B[ytr == c].sum(axis=0)
    rows = np.arange(len(ytr))
    for _ in range(epochs):
        P = np.where(C > 0, 1.0, -1.0)
        s = (B @ P.T) / D
        st = s[rows, ytr].copy()
        s[rows, ytr] = -np.inf
        rival = s.argmax(axis=1)
        bad = np.flatnonzero(s[rows, rival] + binary_margin >= st)
        if bad.size == 0:
            break
        for i in bad:
            C[ytr[i]] += lr * B[i]
            C[rival[i]] -= lr * B[i]
    np.testing.assert_array_equal(m.prototypes_, C.astype(np.float32))
