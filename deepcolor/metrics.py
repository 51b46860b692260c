"""Quality measures, with the protocol spelled out.

Protocol (``deepcolor.evaluate``): images at their native resolution (no
resizing); the gray input is the BT.601 luma of the 8-bit original, rounded to
8 bits as a real gray photograph would be; the result is rounded to 8-bit RGB;
PSNR is over all pixels and the three RGB channels, peak 255. The gray baseline
is the same luma with zero chroma (R = G = B = Y).
"""

from __future__ import annotations

import numpy as np

from deepcolor.colorspace import RGB_TO_YUV, quantize_rgb

__all__ = ["psnr", "colorfulness", "to_uint8", "summarize", "frechet_distance", "top1_accuracy", "top1_agreement",
           "MAX_CHROMA_DISTANCE", "AUC_STEPS", "chroma_distance", "cumulative_error_auc", "chroma_auc"]


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Float RGB in [0, 1] -> uint8, rounding half up (not truncating), in float64: `colorspace.quantize_rgb`."""
    return quantize_rgb(np.asarray(rgb, dtype=np.float64), np.uint8)


def psnr(result: np.ndarray, reference: np.ndarray) -> float:
    """PSNR in dB between two 8-bit RGB images, peak 255.

    Parameters
    ----------
    result, reference : ndarray, shape (H, W, 3), uint8

    Returns
    -------
    float
        ``10 log10(255^2 / MSE)``; ``inf`` for identical images.
    """
    result = np.asarray(result)
    reference = np.asarray(reference)
    if result.shape != reference.shape or result.ndim != 3 or result.shape[2] != 3:
        raise ValueError(f"psnr needs two (H, W, 3) images of one shape, got {result.shape} and {reference.shape}")
    if result.dtype != np.uint8 or reference.dtype != np.uint8:
        raise ValueError(f"psnr compares 8-bit images, got {result.dtype} and {reference.dtype}")
    mse = np.mean((result.astype(np.float64) - reference.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler & Suesstrunk (2003) colorfulness of an 8-bit RGB image.

    ``rg = R - G``, ``yb = (R + G) / 2 - B``;
    ``C = sqrt(std_rg^2 + std_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2)``.
    0 for a gray image; about 20-60 for everyday photographs.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"colorfulness needs an (H, W, 3) image, got {rgb.shape}")
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    rg = r - g
    yb = 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def summarize(values: np.ndarray) -> dict[str, float]:
    """Median and quartiles of a 1-d sample (NaN-free)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return {"n": 0, "median": float("nan"), "q1": float("nan"), "q3": float("nan")}
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return {"n": int(values.size), "median": float(med), "q1": float(q1), "q3": float(q3)}


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two sets of features (FID's recipe).

    ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))`` with ``scipy.linalg.sqrtm``; as in
    Heusel et al.'s reference code, a non-finite square root is retried with 1e-6 added to the
    diagonals, and the imaginary part that rounding leaves is dropped. With fewer samples than
    dimensions the covariances are rank-deficient and the value is biased upwards: compare only
    distances computed over sets of the same size.

    Parameters
    ----------
    features_a, features_b : ndarray, shape (N_a, D) and (N_b, D), float
        One row per image (for deepcolor, the encoder's pooled 1280-d feature); N >= 2 each.

    Returns
    -------
    float
        >= 0 (up to rounding); 0 for two identical sets.
    """
    from scipy import linalg

    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"frechet_distance needs two (N, D) arrays of one D, got {a.shape} and {b.shape}")
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError(f"frechet_distance needs at least 2 rows in each set, got {a.shape[0]} and {b.shape[0]}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("frechet_distance needs finite features")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(root).all():
        offset = np.eye(cov_a.shape[0]) * 1e-6
        root = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    root = np.real(root)
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(root))
    return max(value, 0.0)


def _classes(values: np.ndarray, name: str) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1 or values.size == 0 or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{name} must be a non-empty 1-d array of class indices, got shape {values.shape} {values.dtype}")
    return values


def top1_accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of images whose top-1 predicted class is the label (Zhang et al.'s semantic interpretability).

    Parameters
    ----------
    predicted, labels : ndarray, shape (N,), int
        Top-1 class per image, and its true class.
    """
    predicted, labels = _classes(predicted, "predicted"), _classes(labels, "labels")
    if predicted.shape != labels.shape:
        raise ValueError(f"predicted and labels differ in length: {predicted.shape} and {labels.shape}")
    return float(np.mean(predicted == labels))


def top1_agreement(predicted: np.ndarray, reference: np.ndarray) -> float:
    """Fraction of images whose top-1 class equals the class the classifier gives the original.

    For sets without labels: ``reference`` is the top-1 class of each original photo, ``predicted``
    that of its gray or colorized version. Same checks and value as `top1_accuracy`.
    """
    return top1_accuracy(predicted, reference)


# The largest distance between two chroma (BT.601 U, V) of the RGB cube: the cube projects onto a
# hexagon in the U, V plane whose longest diagonal joins red and cyan, 2 |(U, V)(red)| = 1.2647.
MAX_CHROMA_DISTANCE = float(2.0 * np.hypot(RGB_TO_YUV[1, 0], RGB_TO_YUV[2, 0]))
AUC_STEPS = 150  # thresholds 0, T/150, ..., T: Zhang et al.'s 0..150 in steps of 1, here in U, V


def chroma_distance(result: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-pixel Euclidean distance between the BT.601 chroma (U, V) of two 8-bit RGB images.

    Parameters
    ----------
    result, reference : ndarray, shape (H, W, 3), uint8

    Returns
    -------
    ndarray, shape (H, W), float64
        In [0, `MAX_CHROMA_DISTANCE`]; 0 where the colours' chroma agree (luma is ignored).
    """
    result, reference = np.asarray(result), np.asarray(reference)
    if result.shape != reference.shape or result.ndim != 3 or result.shape[2] != 3:
        raise ValueError(f"chroma_distance needs two (H, W, 3) images of one shape, got {result.shape} and {reference.shape}")
    if result.dtype != np.uint8 or reference.dtype != np.uint8:
        raise ValueError(f"chroma_distance compares 8-bit images, got {result.dtype} and {reference.dtype}")
    to_uv = RGB_TO_YUV[1:].T / 255.0  # (3, 2), in float64 so equal colours give exactly 0
    diff = (result.astype(np.float64) - reference.astype(np.float64)) @ to_uv
    return np.hypot(diff[..., 0], diff[..., 1])


def cumulative_error_auc(distances: np.ndarray, *, max_distance: float = MAX_CHROMA_DISTANCE, steps: int = AUC_STEPS) -> float:
    """Zhang et al.'s AuC: the area under the curve of the fraction of pixels within a threshold, normalized.

    The curve ``F(t) = mean(distances <= t)`` is taken at ``steps + 1`` thresholds ``t_k = k T / steps``
    (``T = max_distance``) and integrated by the trapezoid rule over [0, T], divided by T. Every pixel
    within the threshold everywhere gives 1; a pixel at distance ``d`` (between two thresholds) adds
    ``1 - (floor(d steps / T) + 0.5) / steps``, and 0 from ``d >= T`` (the continuous ``1 - d / T``
    to within ``1 / (2 steps)``).

    Parameters
    ----------
    distances : ndarray, any shape, float
        Per-pixel colour errors (for deepcolor, `chroma_distance`), >= 0, at least one.
    max_distance : float
        T, the largest threshold, > 0; default the largest chroma distance in the RGB cube.
    steps : int
        Number of threshold intervals, >= 1.

    Returns
    -------
    float
        In [0, 1]; higher is better.
    """
    d = np.asarray(distances, dtype=np.float64).ravel()
    if d.size == 0:
        raise ValueError("cumulative_error_auc needs at least one distance")
    if not np.isfinite(d).all() or (d < 0).any():
        raise ValueError("cumulative_error_auc needs finite distances >= 0")
    if not (np.isfinite(max_distance) and max_distance > 0):
        raise ValueError(f"max_distance must be a finite number > 0, got {max_distance}")
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps}")
    thresholds = np.linspace(0.0, max_distance, int(steps) + 1)
    within = np.searchsorted(np.sort(d), thresholds, side="right") / d.size  # F(t_k)
    return float(((within[1:] + within[:-1]) / 2.0).mean())


def chroma_auc(result: np.ndarray, reference: np.ndarray, *, steps: int = AUC_STEPS) -> float:
    """`cumulative_error_auc` of the `chroma_distance` of two 8-bit RGB images (one image; a set's figure is the median).

    Parameters
    ----------
    result, reference : ndarray, shape (H, W, 3), uint8
    steps : int
        Threshold intervals between 0 and `MAX_CHROMA_DISTANCE`.

    Returns
    -------
    float
        In [0, 1]; 1 for a result whose chroma is the reference's at every pixel.
    """
    return cumulative_error_auc(chroma_distance(result, reference), steps=steps)
