"""Fitting the ``both`` model's combiner (`deepcolor.models.both`): weighted least squares on sampled pixels.

The combiner is linear in its weights, ``chroma_c = sum_s sum_g W[c, s, g] * gate_g * source_s,c``, so each
chroma channel is one ridge-regularized weighted least-squares problem over the (source x gate) products.
The error is measured in RGB: with the luma kept, an error of (dU, dV) is an RGB error of
``M @ (dU, dV)`` (BT.601), so the U channel's squared error counts ``|M[:, 0]|^2`` (about 4.3) and
V's ``|M[:, 1]|^2`` (about 1.6), and the two channels are fitted jointly. Each image's pixels carry a
weight (`image_weights`) so that the fit follows the median per-image PSNR rather than the few images
whose error is largest.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RGB_FROM_CHROMA", "design", "fit_combiner", "fit_products", "image_weights"]

# BT.601: (R, G, B) - Y = RGB_FROM_CHROMA @ (U, V)
RGB_FROM_CHROMA = np.array([[0.0, 1.13983], [-0.39465, -0.58060], [2.03211, 0.0]], np.float64)


def design(sources: np.ndarray, gates: np.ndarray) -> np.ndarray:
    """The products of every gate and source, per channel: (N, 2, S * G) float64.

    Parameters
    ----------
    sources : ndarray, shape (N, S, 2)
    gates : ndarray, shape (N, G)
    """
    n, s, _ = sources.shape
    return (sources.transpose(0, 2, 1)[..., :, None] * gates[:, None, None, :]).reshape(n, 2, -1).astype(np.float64)


def fit_combiner(sources: np.ndarray, gates: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None, *,
                 ridge: float = 1e-4) -> np.ndarray:
    """Least-squares combiner weights ``W`` (2, S, G) float32 of `deepcolor.models.both.combine`.

    Minimizes ``sum_i w_i |M (combine_i - target_i)|^2 + ridge * N * |W|^2`` (M: `RGB_FROM_CHROMA`).

    Parameters
    ----------
    sources : ndarray, shape (N, S, 2), float32
        Each source's chroma (U, V) at N sampled pixels.
    gates : ndarray, shape (N, G), float32
    target : ndarray, shape (N, 2), float32
        The original's chroma there.
    weights : ndarray, shape (N,), optional
        Per-pixel weights (default 1).
    ridge : float, keyword-only
        Regularization, relative to the number of pixels.
    """
    return fit_products(design(sources, gates), target, weights, ridge=ridge).reshape(2, sources.shape[1], gates.shape[1])


def fit_products(products: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None, *, ridge: float = 1e-4) -> np.ndarray:
    """`fit_combiner` on given products (N, 2, K) (e.g. each gate x source product after the pipeline's refinement,
    which is linear in the chroma): the weights (2, K) float32."""
    x = np.asarray(products, np.float64)
    n, _, k = x.shape
    w = np.ones(n) if weights is None else np.asarray(weights, np.float64)
    metric = RGB_FROM_CHROMA.T @ RGB_FROM_CHROMA  # (2, 2): the RGB error of a chroma error
    # Unknowns: (W_U (K), W_V (K)); prediction channel c = x[:, c] @ W_c.
    lhs = np.zeros((2 * k, 2 * k))
    rhs = np.zeros(2 * k)
    for a in range(2):
        xa = x[:, a] * w[:, None]
        for b in range(2):
            lhs[a * k:(a + 1) * k, b * k:(b + 1) * k] = metric[a, b] * (xa.T @ x[:, b])
            rhs[a * k:(a + 1) * k] += metric[a, b] * (xa.T @ target[:, b].astype(np.float64))
    lhs += ridge * w.sum() * np.eye(2 * k)
    return np.linalg.solve(lhs, rhs).reshape(2, k).astype(np.float32)


def image_weights(errors: np.ndarray, *, floor: float = 1e-5) -> np.ndarray:
    """Per-image weights ``1 / MSE`` (normalized to mean 1): minimizing the weighted squared error is then a
    Gauss-Newton step on the mean of per-image log-MSE, i.e. on the mean PSNR, not on the pooled MSE.

    Parameters
    ----------
    errors : ndarray, shape (n_images,)
        Each image's mean squared RGB error under the current combiner (e.g. the 50/50 average).
    """
    w = 1.0 / np.maximum(np.asarray(errors, np.float64), floor)
    return w / w.mean()
