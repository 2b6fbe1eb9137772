"""The reference of what the machine can do: a plain fp32 matrix product ``(n×n) @ (n×n)``, compiled with the
active backend's own compiler (``tf.function`` / ``jax.jit`` / torch eager), ``2·n³`` FLOPs (a multiply-add = 2).

A model's achieved FLOP/s divided by this product's FLOP/s — measured in the same process, interleaved with the
model (``timing.time_interleaved``) so that both see the same load — tells how well its kernels use the machine.
"""

import keras
import numpy as np

DEFAULT_SIZE = 2048


def check_size(n):
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"matmul size must be a positive int, received {n!r}")
    return n


def matmul_flops(n):
    """FLOPs of one ``(n×n) @ (n×n)`` product: ``2·n³``."""
    n = check_size(n)
    return 2 * n**3


def matmul_function(n=DEFAULT_SIZE, seed=0):
    """A zero-argument callable computing ``a @ b`` for fixed random fp32 ``n×n`` matrices."""
    n = check_size(n)
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        a, b = tf.constant(a), tf.constant(b)
        product = tf.function(lambda: tf.matmul(a, b), autograph=False)
        return product
    if backend == "jax":
        import jax

        a, b = jax.device_put(a), jax.device_put(b)
        product = jax.jit(lambda x, y: x @ y)
        return lambda: product(a, b)
    if backend == "torch":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        a, b = torch.from_numpy(a).to(device), torch.from_numpy(b).to(device)

        def product():
            with torch.no_grad():
                return a @ b

        return product
    raise ValueError(f"unsupported Keras backend {backend!r}")
