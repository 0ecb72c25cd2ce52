"""The ``hdc`` section of ``python -m mlkern bench``: mlkern.hdc against NumPy,
numkong and torchhd (where installed), same run, same inputs.

Workloads (issue 14), on the bench's threads:
- ``ProjectionEncoder`` encode of 100 000 × 32 float32 to packed D = 10 000, against
  NumPy's ``X @ W > 0`` + ``np.packbits`` and torchhd's ``Projection`` +
  ``hard_quantize`` (MAP ±1 floats: torchhd has no packed bits);
- ``cdist_hamming`` of 1 000 × 1 000 codes of 10 000 bits against numkong's
  ``hammings_packed`` (the second operand packed once, outside the timing) and
  ``topk_hamming`` of 100 queries in 100 000 codes against numkong + ``argpartition``;
- ``HDClassifier`` fit + predict on scikit-learn's digits (30 % test, stratified,
  ``random_state=0``, standardised, D = 10 000, binary) against torchhd's ``Centroid``
  with five ``add_online`` epochs; both accuracies in the notes.
Every peer's answer is checked against mlkern's before it is timed.
"""

from __future__ import annotations

import importlib.util
from functools import partial
from typing import Any

import numpy as np

from mlkern import hdc
from mlkern._bench import Config, Row, _row


def _have(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _numpy_encode(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    return np.packbits(X @ W > 0, axis=1, bitorder="little")


def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    sc = StandardScaler().fit(Xtr)
    return sc.transform(Xtr).astype(np.float32), sc.transform(Xte).astype(np.float32), ytr, yte


def _torchhd_digits(Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray, D: int, epochs: int, threads: int) -> np.ndarray:
    """torchhd's classifier recipe: Projection (MAP) + hard_quantize, Centroid.add,
    ``epochs`` × add_online, normalize, predict by cosine (its default)."""
    import torch
    import torchhd
    from torchhd import embeddings, models

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    with torch.no_grad():
        enc = embeddings.Projection(Xtr.shape[1], D)
        model = models.Centroid(D, int(ytr.max()) + 1)
        xtr, yt = torch.from_numpy(Xtr), torch.from_numpy(ytr.astype(np.int64))
        h = torchhd.hard_quantize(enc(xtr))
        model.add(h, yt)
        for _ in range(epochs):
            model.add_online(h, yt)
        model.normalize()
        return model(torchhd.hard_quantize(enc(torch.from_numpy(Xte))), dot=True).argmax(1).numpy()  # type: ignore[no-any-return]


def bench_hdc(cfg: Config) -> list[Row]:
    rows: list[Row] = []
    rng = np.random.default_rng(14)
    threads = cfg.threads

    # Encode: 100 000 x 32 -> D = 10 000 packed.
    n, f, D = (2000, 32, 2000) if cfg.smoke else (100_000, 32, 10_000)
    X = rng.standard_normal((n, f), dtype=np.float32)
    enc = hdc.ProjectionEncoder(f, D, random_state=0)
    W = enc.weights_
    ours = enc.encode(X)
    theirs = _numpy_encode(X, W)
    agree = np.mean(ours.view(np.uint8)[:, : theirs.shape[1]] == theirs)
    if agree < 0.999:  # bytes differ only where a projection is within rounding of 0
        raise AssertionError(f"ProjectionEncoder codes disagree with NumPy's ({agree:.4f} of bytes equal)")
    row = _row(cfg, f"hdc encode projection {n}x{f} D={D}", np.float32, "numpy X@W>0 + packbits",
               partial(enc.encode, X), partial(_numpy_encode, X, W), threaded_peer=True)
    row.throughput = f"{n / row.mlkern_s:,.0f} samples/s"
    row.notes = f"numpy {n / row.peer_s:,.0f} samples/s; codes equal NumPy's in {agree:.5f} of bytes"
    rows.append(row)
    if _have("torchhd"):
        import torch
        import torchhd
        from torchhd import embeddings

        torch.set_num_threads(threads)
        proj = embeddings.Projection(f, D)
        xt = torch.from_numpy(X)

        def torch_encode() -> Any:
            with torch.no_grad():
                return torchhd.hard_quantize(proj(xt))

        row = _row(cfg, f"hdc encode projection {n}x{f} D={D}", np.float32, "torchhd Projection+quantize",
                   partial(enc.encode, X), torch_encode, threaded_peer=True)
        row.throughput = f"{n / row.mlkern_s:,.0f} samples/s"
        row.notes = f"torchhd {n / row.peer_s:,.0f} samples/s (±1 float32 output, 32x the bytes)"
        rows.append(row)

    # All-pairs Hamming, 1 000 x 1 000 x 10 000 bits.
    m, Dh = (200, 2000) if cfg.smoke else (1000, 10_000)
    A = hdc.random(m, Dh, random_state=1)
    B = hdc.random(m, Dh, random_state=2)
    bits = float(m) * m * Dh
    note_kernel = f"kernel {hdc.kernel_name()}"
    if _have("numkong"):
        import numkong

        a8, b8 = A.view(np.uint8), B.view(np.uint8)
        packed = numkong.hammings_pack(b8)
        want = np.asarray(numkong.hammings_packed(a8, packed))
        if not np.array_equal(want, hdc.cdist_hamming(A, B)):
            raise AssertionError("cdist_hamming disagrees with numkong")
        row = _row(cfg, f"hdc cdist_hamming {m}x{m} D={Dh}", np.uint64, "numkong hammings_packed",
                   partial(hdc.cdist_hamming, A, B), partial(numkong.hammings_packed, a8, packed))
        row.throughput = f"{bits / row.mlkern_s / 1e9:,.0f} Gbit/s"
        row.notes = f"numkong {bits / row.peer_s / 1e9:,.0f} Gbit/s; {note_kernel}"
        rows.append(row)

        q, nm, k = (20, 5000, 10) if cfg.smoke else (100, 100_000, 10)
        Q = hdc.random(q, Dh, random_state=3)
        M = hdc.random(nm, Dh, random_state=4)
        pm = numkong.hammings_pack(M.view(np.uint8))

        def numkong_topk() -> Any:
            d = np.asarray(numkong.hammings_packed(Q.view(np.uint8), pm))
            part = np.argpartition(d, k - 1, axis=1)[:, :k]
            return part, np.take_along_axis(d, part, axis=1)

        _, dk = hdc.topk_hamming(Q, M, k)
        _, dn = numkong_topk()
        if not np.array_equal(np.sort(dn, axis=1), dk):
            raise AssertionError("topk_hamming distances disagree with numkong's")
        row = _row(cfg, f"hdc topk_hamming q={q} memory={nm} D={Dh} k={k}", np.uint64,
                   "numkong + argpartition", partial(hdc.topk_hamming, Q, M, k), numkong_topk)
        row.throughput = f"{float(q) * nm * Dh / row.mlkern_s / 1e9:,.0f} Gbit/s"
        row.notes = note_kernel
        rows.append(row)
    elif hasattr(np, "bitwise_count"):  # NumPy >= 2.0
        pair = _row(cfg, f"hdc cdist_hamming {m}x{m} D={Dh}", np.uint64, "numpy bitwise_count (row loop)",
                    partial(hdc.cdist_hamming, A, B),
                    lambda: np.stack([np.bitwise_count(a ^ B).sum(axis=1) for a in A]))
        pair.throughput = f"{bits / pair.mlkern_s / 1e9:,.0f} Gbit/s"
        pair.notes = f"numkong not installed (pip install numkong); {note_kernel}"
        rows.append(pair)

    # The classifier on digits.
    try:
        Xtr, Xte, ytr, yte = _digits()
    except ImportError:
        return rows
    Dc = 2000 if cfg.smoke else 10_000

    def ours_fit_predict() -> np.ndarray:
        return hdc.HDClassifier(D=Dc, binary=True, random_state=0).fit(Xtr, ytr).predict(Xte)

    acc = float(np.mean(ours_fit_predict() == yte))
    if _have("torchhd"):
        theirs_fn = partial(_torchhd_digits, Xtr, ytr, Xte, Dc, 5, threads)
        tacc = float(np.mean(theirs_fn() == yte))
        tcent = float(np.mean(_torchhd_digits(Xtr, ytr, Xte, Dc, 0, threads) == yte))
        row = _row(cfg, f"hdc HDClassifier digits fit+predict D={Dc}", np.float32, "torchhd Centroid + 5 online",
                   ours_fit_predict, theirs_fn, threaded_peer=True)
        row.notes = f"test accuracy mlkern {acc:.3f}, torchhd {tacc:.3f} (torchhd centroid only {tcent:.3f})"
        row.extra = {"accuracy_mlkern": acc, "accuracy_peer": tacc, "accuracy_peer_centroid": tcent}
        rows.append(row)
    else:
        from sklearn.linear_model import LogisticRegression

        row = _row(cfg, f"hdc HDClassifier digits fit+predict D={Dc}", np.float32, "sklearn LogisticRegression",
                   ours_fit_predict, lambda: LogisticRegression(max_iter=1000).fit(Xtr, ytr).predict(Xte))
        row.notes = f"test accuracy mlkern {acc:.3f}; torchhd not installed (pip install torch-hd)"
        row.extra = {"accuracy_mlkern": acc}
        rows.append(row)
    return rows
