"""mlkern: fast, honest CPU kernels for machine learning.

A Rust core with SIMD kernels chosen at run time for this CPU (AVX-512, AVX2+FMA,
SSE4.2, NEON or scalar), exposed to NumPy without copies.

Top level
---------
cpu_info()            what was detected and which SIMD tier runs
set_num_threads(n)    size of mlkern's one thread pool (also ``MLKERN_NUM_THREADS``);
                      on Linux its threads are pinned one per CPU when they fit
                      (``MLKERN_PIN_THREADS=0`` opts out)
get_num_threads()

Submodules
----------
mlkern.vector         dot, norm, cosine_similarity, cosine_distance, sqeuclidean, cdist, topk
mlkern.signal         rfft/irfft/fft/ifft, convolve/correlate, describe, rolling, welch, spectral_features
mlkern.linalg         matmul (packed GEMM, Strassen), qr, randomized_svd, csr_matmul
mlkern.mem            BufferPool: pooled, 64-byte aligned NumPy arrays
mlkern.conformal      conformal prediction sets/intervals (LAC, APS, RAPS, top-k, CQR), MAPIE's API
mlkern.hdc            hyperdimensional computing: packed hypervectors, encoders, Hamming search, HDClassifier
mlkern.learn          scikit-learn-compatible LinearRegression, Ridge, LogisticRegression, SGDClassifier/Regressor,
                      MLPClassifier/Regressor
mlkern.attention      flash_attention: tiled online-softmax attention, float32/float16/bfloat16 inputs

``python -m mlkern`` prints the CPU report and benchmarks mlkern against NumPy and
SciPy in the same run.
"""

from mlkern import attention, conformal, hdc, learn, linalg, mem, signal, vector
from mlkern._mlkern import __version__, cpu_info, get_num_threads, set_num_threads

__all__ = [
    "__version__",
    "attention", "conformal",
    "cpu_info", "get_num_threads", "hdc", "learn", "linalg", "mem", "set_num_threads", "signal", "vector"]
