"""Per-pixel scene semantics from a gray image (the FCN stage of Cheng et al.), on any device.

The network (`deepcolor.features.semantic_net.SemanticFCN`) predicts, for
every pixel, the probability of each of the 11 CamVid classes, on a copy of
the image downscaled to at most ``fcn.max_side`` pixels a side
(`small_probabilities`). That small map is upsampled bilinearly to the image
(or to one region of it, `upsample_region`) and smoothed by an
edge-preserving domain-transform filter guided by the gray image, so class
boundaries snap to luma edges (Cheng et al., Sec. 4.1); the smoothed maps
are the 11-d semantic part of the per-pixel descriptor.

Every stage is written once against the array module of its input and a
torch device: on the CPU (numpy, OpenCV's ``resize`` and ``dtFilter`` in
channel groups of at most 4) or on the GPU (CuPy; the FCN on torch CUDA,
handed over through DLPack; the smoothing is `kernels.domain_transform_cuda`
on all 11 maps, then `kernels.upsample_cuda.clip_renormalise`). The GPU's
smoothed maps agree with the CPU's within ``PARITY_ATOL`` and the whole stage
within ``FEATURES_ATOL`` (checked under numba's CUDA simulator, where the
device arrays are numpy arrays, ``tests/cudasim_parity.py``).

Training lives in `deepcolor.train.fcn`.
"""

from __future__ import annotations

import logging
from typing import Any

import cv2
import numpy as np

from deepcolor import kernels
from deepcolor.colorspace import check_luma
from deepcolor.features.semantic_net import (
    CAMVID_CLASSES,
    DEFAULT_ARCH,
    MAX_SIDE,
    N_CLASSES,
    SemanticFCN,
    fcn_from_tensors,
    load_fcn,
)
from deepcolor.features.scene import SCENE_CLASSES, SCENE_COLOURS, SceneFCN, scene_small_probabilities
from deepcolor.kernels.cuda_host import array_module
from deepcolor.kernels.device import array_module_for, from_torch, module_on, to_host, torch_device

__all__ = [
    "CAMVID_CLASSES", "CAMVID_COLOURS", "N_CLASSES", "VOID", "DEFAULT_ARCH", "MAX_SIDE", "SIGMA_SPATIAL", "SIGMA_COLOR",
    "PARITY_ATOL", "FEATURES_ATOL", "SemanticFCN", "fcn_from_tensors", "load_fcn",
    "fcn_input", "small_probabilities", "upsample_region", "upsample_at", "semantic_probabilities", "smooth_probabilities",
    "semantic_features", "semantic_histogram", "label_colours", "SEMANTIC_WIDTHS", "semantic_classes", "semantic_colours",
    "load_semantic_net",
]

logger = logging.getLogger(__name__)

VOID = 11
# SegNet's CamVid colours (RGB), row ``VOID`` is the void/unlabelled black.
CAMVID_COLOURS = np.array(
    [
        [128, 128, 128],
        [128, 0, 0],
        [192, 192, 128],
        [128, 64, 128],
        [60, 40, 222],
        [128, 128, 0],
        [192, 128, 128],
        [64, 64, 128],
        [64, 0, 128],
        [64, 64, 0],
        [0, 128, 192],
        [0, 0, 0],
    ],
    dtype=np.uint8,
)
CAMVID_COLOURS.setflags(write=False)

# Domain-transform parameters: spatial sigma in pixels, colour sigma in luma
# units (luma in [0, 1]); chosen on CamVid val (raw 89.1% -> ~89.4% pixel acc.).
SIGMA_SPATIAL = 16.0
SIGMA_COLOR = 0.08
_DT_ITERS = 2  # 3 (the paper's choice) scores the same on CamVid val and costs 40% more
# cv2.ximgproc.dtFilter takes at most 4 source channels, so the 11 maps travel
# as contiguous (H, W, 4|4|3) groups; that also avoids strided copies.
_GROUPS = ((0, 4), (4, 8), (8, 11))


# The class counts a semantic map may have: the 11 CamVid classes of `SemanticFCN`, or the 24 of
# the general-scene FCN (`deepcolor.features.scene.SceneFCN`); either can feed Cheng's descriptor.
SEMANTIC_WIDTHS = (N_CLASSES, len(SCENE_CLASSES))


def semantic_classes(fcn: Any) -> tuple[str, ...]:
    """The class names of a semantic network's maps, in channel order (CamVid's 11 or the scene FCN's 24)."""
    return tuple(fcn.classes) if isinstance(fcn, SceneFCN) else CAMVID_CLASSES


def semantic_colours(fcn: Any) -> np.ndarray:
    """The (C + 1, 3) uint8 label colours of a semantic network's classes, the last row void (black)."""
    return SCENE_COLOURS if isinstance(fcn, SceneFCN) else CAMVID_COLOURS


def load_semantic_net(path: Any = None) -> Any:
    """The semantic network of a model file, by the kind it holds: a `SemanticFCN` (``"fcn"``, the
    default shipped one without ``path``) or a `SceneFCN` (``"scene_fcn"``); ModelFileError otherwise."""
    from deepcolor.features.scene import load_scene_fcn
    from deepcolor.modelfile import read_model_kind

    if path is not None and read_model_kind(path) == "scene_fcn":
        return load_scene_fcn(path)
    return load_fcn(path)


# The GPU stage against the CPU's: the smoothing (the domain transform's bound), and the
# whole stage (the FCN on cuDNN vs the CPU's kernels, and the smoothing's rounding).
PARITY_ATOL = 1e-5
FEATURES_ATOL = 1e-4


def _check_probs(probs: Any, name: str = "probs"):
    xp = array_module(probs)
    probs = xp.asarray(probs)
    if probs.ndim != 3 or probs.shape[-1] not in SEMANTIC_WIDTHS or min(probs.shape[:2]) < 1:
        raise ValueError(f"{name} must have shape (H, W, C) with C in {SEMANTIC_WIDTHS}, got {probs.shape}")
    return xp.ascontiguousarray(probs, dtype=xp.float32)


def _check_backend(backend: str) -> None:
    if backend not in kernels.BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(kernels.BACKENDS)}, got {backend!r}")


def _merge_groups(groups: list[np.ndarray]) -> np.ndarray:
    """(H, W, c_k) channel groups -> (H, W, C) float32, clipped >= 0 and summing to 1."""
    h, w = groups[0].shape[:2]
    flat = [np.ascontiguousarray(g.reshape(h * w, -1), dtype=np.float32) for g in groups]
    if len(flat) == len(_GROUPS):  # the 11 CamVid maps: the fused kernel
        return kernels.merge_normalize(flat[0], flat[1], flat[2]).reshape(h, w, N_CLASSES)
    merged = np.concatenate(flat, axis=1)
    np.maximum(merged, np.float32(0), out=merged)  # in place: on a megapixel of 24 maps each temporary costs 100 MB
    total = merged.sum(axis=1, keepdims=True)
    empty = total[:, 0] <= 0
    np.divide(merged, np.where(empty[:, None], np.float32(1), total), out=merged)
    # A pixel whose mass was all clipped away gets the uniform distribution (as the kernel does).
    merged[empty] = np.float32(1.0 / merged.shape[1])
    return merged.reshape(h, w, -1)


def _split_groups(probs: np.ndarray) -> list[np.ndarray]:
    """Channel groups of at most 4 (dtFilter's limit): CamVid's fixed 4 | 4 | 3, else fours from the start."""
    bounds = _GROUPS if probs.shape[-1] == N_CLASSES else [(a, min(a + 4, probs.shape[-1])) for a in range(0, probs.shape[-1], 4)]
    return [np.ascontiguousarray(probs[..., a:b]) for a, b in bounds]


def fcn_input(luma: np.ndarray, fcn: SemanticFCN, max_side: int | None = None) -> np.ndarray:
    """What the net reads of an (H, W) float32 luma: area-downscaled to longest side <= ``max_side``
    (default ``fcn.max_side``), clipped to [0, 1]; validates ``fcn`` and ``max_side`` (ValueError)."""
    if not isinstance(fcn, SemanticFCN):
        raise ValueError(f"fcn must be a SemanticFCN, got {type(fcn).__name__}")
    if fcn.config["n_classes"] != N_CLASSES:
        raise ValueError(f"fcn must predict {N_CLASSES} classes, got {fcn.config['n_classes']}")
    if max_side is None:
        max_side = fcn.max_side
    if int(max_side) != max_side or max_side < SemanticFCN.STRIDE:
        raise ValueError(f"max_side must be an int >= {SemanticFCN.STRIDE}, got {max_side}")
    h, w = luma.shape
    scale = min(1.0, max_side / max(h, w))
    small = luma
    if scale < 1.0:
        sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
        small = cv2.resize(luma, (sw, sh), interpolation=cv2.INTER_AREA)
    return np.clip(small, 0.0, 1.0)


def small_probabilities(luma: np.ndarray, fcn: SemanticFCN, *, max_side: int | None = None, xp: Any = np):
    """The FCN's class probabilities of the whole image at the scale it runs at.

    Parameters
    ----------
    luma : numpy.ndarray, shape (H, W), float
        Luma in [0, 1], on the host (its downscale is made there, as OpenCV's area interpolation).
    fcn : SemanticFCN or SceneFCN
        The 11-class CamVid FCN or the 24-class general-scene FCN.
    max_side : int, optional, keyword-only
        Longest side the net runs at (default ``fcn.max_side``); never upscaled.
    xp : module, keyword-only
        The array module of the result: numpy (the net on the CPU) or cupy
        (the net's CUDA copy, made once by `module_on`; DLPack, no host copy).

    Returns
    -------
    small : ``xp`` array, shape (h, w, C), float32
        Softmax probabilities (C = 11, or 24 for a SceneFCN), longest side at most ``max_side``.
    """
    import torch

    if isinstance(fcn, SceneFCN):  # the general-scene FCN: 24 classes on the pretrained encoder
        return scene_small_probabilities(check_luma(luma), fcn, max_side=max_side, xp=xp)
    device = torch_device(xp)
    x = torch.from_numpy(fcn_input(check_luma(luma), fcn, max_side))[None, None].to(device)
    net = module_on(fcn, device)
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode():
            probs = torch.softmax(net(x), dim=1)[0].permute(1, 2, 0).contiguous()
    finally:
        net.train(was_training)
    return from_torch(probs, xp)


def _upsampled_groups(small: np.ndarray, h: int, w: int) -> list[np.ndarray]:
    """Bilinear upsampling of (h', w', 11) maps to (h, w), as contiguous channel groups."""
    groups = _split_groups(small)
    if small.shape[:2] == (h, w):
        return groups
    return [cv2.resize(g, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, g.shape[-1]) for g in groups]


def _axis(n_small: int, n_full: int, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights of full-size pixel positions (OpenCV's INTER_LINEAR convention)."""
    pos = (np.asarray(positions, dtype=np.float64) + 0.5) * (n_small / n_full) - 0.5
    lo = np.floor(pos).astype(np.int64)
    frac = pos - lo
    before = lo < 0
    frac[before], lo[before] = 0.0, 0
    after = lo >= n_small - 1
    frac[after], lo[after] = 0.0, n_small - 1
    return lo, np.minimum(lo + 1, n_small - 1), frac.astype(np.float32)


def upsample_region(small: Any, shape: tuple[int, int], rows: slice, cols: slice):
    """The region ``[rows, cols]`` of ``small`` (h, w, C) bilinearly resized to ``shape`` (H, W).

    Upsampling a region this way gives exactly the pixels that upsampling the
    whole map and cropping gives (to float32 rounding: at most about 2e-6).

    Returns
    -------
    ndarray, shape (rows, cols, C), float32
        Equal to ``cv2.resize(small, (W, H), interpolation=cv2.INTER_LINEAR)[rows, cols]``;
        a CuPy ``small`` gives a CuPy result, computed on the GPU.
    """
    if array_module(small) is np and (rows.start, rows.stop, cols.start, cols.stop) == (0, shape[0], 0, shape[1]):
        small = np.asarray(small, dtype=np.float32)
        return np.concatenate(_upsampled_groups(small, *shape), axis=-1)  # the whole image: OpenCV's own resize
    return upsample_at(small, shape, np.arange(rows.start, rows.stop), np.arange(cols.start, cols.stop))


def upsample_at(small: Any, shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray):
    """``small`` (h, w, C) bilinearly resized to ``shape`` (H, W), only at the pixels ``rows`` x ``cols``.

    Parameters
    ----------
    small : array, shape (h, w, C), float32
        numpy or CuPy (the result is computed on its device).
    shape : (H, W)
    rows, cols : numpy.ndarray of int
        Pixel rows and columns of the (H, W) image, e.g. a subsampled grid's (`deepcolor.features.grid`).

    Returns
    -------
    array, shape (len(rows), len(cols), C), float32
        Equal to ``cv2.resize(small, (W, H), interpolation=cv2.INTER_LINEAR)[rows][:, cols]`` to float32 rounding.
    """
    xp = array_module(small)
    small = xp.asarray(small, dtype=xp.float32)
    if small.ndim != 3 or len(shape) != 2:
        raise ValueError(f"small must be (h, w, C) and shape (H, W), got {small.shape} and {shape}")
    y0, y1, fy = (xp.asarray(a) for a in _axis(small.shape[0], shape[0], rows))
    x0, x1, fx = (xp.asarray(a) for a in _axis(small.shape[1], shape[1], cols))
    fy, fx = fy[:, None, None], fx[None, :, None]
    vertical = small[y0] * (1 - fy) + small[y1] * fy
    return xp.ascontiguousarray(vertical[:, x0] * (1 - fx) + vertical[:, x1] * fx, dtype=xp.float32)


def _check_sigmas(sigma_spatial: float, sigma_color: float) -> None:
    if not (np.isfinite(sigma_spatial) and sigma_spatial > 0):
        raise ValueError(f"sigma_spatial must be > 0, got {sigma_spatial}")
    if not (np.isfinite(sigma_color) and sigma_color > 0):
        raise ValueError(f"sigma_color must be > 0, got {sigma_color}")


def _dt_filter_groups(groups: list[np.ndarray], luma: np.ndarray, sigma_spatial: float, sigma_color: float) -> list[np.ndarray]:
    """Domain-transform filter each channel group with one filter built from the luma guide."""
    dt = cv2.ximgproc.createDTFilter(luma, float(sigma_spatial), float(sigma_color), cv2.ximgproc.DTF_RF, _DT_ITERS)
    return [dt.filter(g).reshape(g.shape) for g in groups]


def semantic_probabilities(luma: np.ndarray, fcn: SemanticFCN, *, max_side: int | None = None) -> np.ndarray:
    """Per-pixel class probabilities of a gray image.

    Parameters
    ----------
    luma : ndarray, shape (H, W), float
        Luma in [0, 1].
    fcn : SemanticFCN
        E.g. from `load_fcn`.
    max_side : int, optional, keyword-only
        The net runs on a copy downscaled (area interpolation) so that its
        longest side is at most this; the probabilities are upsampled
        bilinearly back to ``(H, W)``. Default ``fcn.max_side``, the scale
        the model was trained for (stored in its model file).

    Returns
    -------
    probs : ndarray, shape (H, W, 11), float32
        Softmax probabilities, non-negative, summing to 1 per pixel.
    """
    luma = check_luma(luma)
    small = small_probabilities(luma, fcn, max_side=max_side)
    if small.shape[:2] == luma.shape:
        return np.ascontiguousarray(small, dtype=np.float32)
    return _merge_groups(_upsampled_groups(small, *luma.shape))


def smooth_probabilities(
    probs: Any,
    luma: Any,
    *,
    sigma_spatial: float = SIGMA_SPATIAL,
    sigma_color: float = SIGMA_COLOR,
    backend: str = "cpu",
):
    """Edge-preserving smoothing of probability maps guided by the gray image.

    The domain-transform filter (recursive mode, 2 iterations) with ``luma``
    as the guide, then clipping at 0 and renormalising each pixel. On the CPU
    it is OpenCV's ``dtFilter``, in groups of at most 4 channels (an OpenCV
    limit); on the GPU its twin `deepcolor.kernels.domain_transform_cuda` on
    all 11 maps at once, within ``PARITY_ATOL`` of the CPU.

    Parameters
    ----------
    probs : ndarray, shape (H, W, 11), float
    luma : ndarray, shape (H, W), float
        Guide, in [0, 1].
    sigma_spatial : float, keyword-only
        Spatial extent of the filter in pixels, > 0.
    sigma_color : float, keyword-only
        Luma difference (in [0, 1] units) across which smoothing fades, > 0.
    backend : {"cpu", "cuda"}, keyword-only
        ``"cuda"``: ``probs`` and ``luma`` are device arrays (numpy under
        numba's CUDA simulator) and so is the result.

    Returns
    -------
    smoothed : ndarray, shape (H, W, 11), float32
        Clipped at 0 and renormalized to sum to 1 per pixel.
    """
    _check_backend(backend)
    probs = _check_probs(probs)
    if backend == "cuda":
        from deepcolor.kernels.domain_transform_cuda import domain_transform_cuda
        from deepcolor.kernels.upsample_cuda import clip_renormalise

        _check_sigmas(sigma_spatial, sigma_color)
        smoothed = domain_transform_cuda(probs, luma, sigma_spatial=sigma_spatial, sigma_color=sigma_color, iterations=_DT_ITERS)
        return clip_renormalise(smoothed)
    luma = check_luma(luma)
    if probs.shape[:2] != luma.shape:
        raise ValueError(f"probs {probs.shape[:2]} and luma {luma.shape} must have the same (H, W)")
    _check_sigmas(sigma_spatial, sigma_color)
    return _merge_groups(_dt_filter_groups(_split_groups(probs), luma, sigma_spatial, sigma_color))


def semantic_features(
    luma: np.ndarray,
    fcn: SemanticFCN | None = None,
    *,
    small: Any = None,
    region: tuple[slice, slice] | None = None,
    guide: Any = None,
    max_side: int | None = None,
    sigma_spatial: float = SIGMA_SPATIAL,
    sigma_color: float = SIGMA_COLOR,
    device: str = "cpu",
):
    """The 11-d semantic part of the per-pixel descriptor, of the image or of one region of it.

    The FCN's small map (`small_probabilities`, or ``small`` when given)
    upsampled bilinearly over the region and smoothed guided by the region's
    luma (`smooth_probabilities`). On the CPU, the whole image is upsampled
    and filtered in OpenCV's channel groups without the intermediate
    (H, W, 11) array.

    Parameters
    ----------
    luma : numpy.ndarray, shape (H, W), float
        Luma in [0, 1] of the whole image, on the host.
    fcn : SemanticFCN, optional
        Needed unless ``small`` is given.
    small : array (h, w, 11), optional, keyword-only
        The FCN's map of the whole image when already computed, of the
        device's array module (the cluster choice reads it too).
    region : (rows, columns) slices, optional, keyword-only
        The region (a tile) whose features are wanted; default the whole image.
    guide : device array, shape of the region, optional, keyword-only
        The region's luma when already on the device (default: copied there).
    max_side, sigma_spatial, sigma_color : keyword-only
        See `small_probabilities` and `smooth_probabilities`.
    device : {"cpu", "cuda"}, keyword-only
        Where it runs; ``"cuda"`` returns a device array.

    Returns
    -------
    features : ndarray, shape (rows, columns of the region, 11), float32
        Smoothed class probabilities, non-negative, summing to 1 per pixel;
        on the GPU within `FEATURES_ATOL` of the CPU's.
    """
    _check_backend(device)
    luma = check_luma(luma)
    _check_sigmas(sigma_spatial, sigma_color)
    xp = array_module_for(device)
    if small is None:
        small = small_probabilities(luma, fcn, max_side=max_side, xp=xp)
    if device == "cpu" and region is None:
        return _merge_groups(_dt_filter_groups(_upsampled_groups(small, *luma.shape), luma, sigma_spatial, sigma_color))
    region = region or (slice(0, luma.shape[0]), slice(0, luma.shape[1]))
    expected = tuple(s.stop - s.start for s in region)
    if guide is None:
        guide = xp.asarray(np.ascontiguousarray(luma[region]))
    if tuple(guide.shape) != expected:
        raise ValueError(f"guide must have the region's shape {expected}, got {tuple(guide.shape)}")
    upsampled = upsample_region(small, luma.shape, *region)
    return smooth_probabilities(upsampled, guide, sigma_spatial=sigma_spatial, sigma_color=sigma_color, backend=device)


def semantic_histogram(probs: Any) -> np.ndarray:
    """Share of the image taken by each class: the mean of the probability maps.

    The soft mean (rather than counts of the argmax) keeps the histogram
    smooth in the network's confidence, which suits clustering.

    Parameters
    ----------
    probs : ndarray, shape (H, W, C), float
        Per-pixel probabilities summing to 1 (e.g. `semantic_features`; C in `SEMANTIC_WIDTHS`); a
        CuPy array is averaged on its device, and only the C means leave it.

    Returns
    -------
    hist : numpy.ndarray, shape (C,), float32
        Non-negative, sums to 1.
    """
    probs = _check_probs(probs)
    xp = array_module(probs)
    hist = np.maximum(to_host(probs.reshape(-1, probs.shape[-1]).astype(xp.float64).mean(axis=0)), 0.0)
    total = hist.sum()
    if not total > 0:
        raise ValueError("probs carry no probability mass")
    return (hist / total).astype(np.float32)


def label_colours(labels: np.ndarray, colours: np.ndarray = CAMVID_COLOURS) -> np.ndarray:
    """Paint a label map in its classes' colours (default SegNet's CamVid colours).

    Parameters
    ----------
    labels : ndarray, shape (H, W), int
        Class ids in 0..C - 1, or C (void, painted black).
    colours : ndarray, shape (C + 1, 3), uint8
        One colour per class, void last (`semantic_colours`; the scene FCN's `SCENE_COLOURS`).

    Returns
    -------
    rgb : ndarray, shape (H, W, 3), uint8
    """
    labels = np.asarray(labels)
    void = len(colours) - 1
    if labels.ndim != 2:
        raise ValueError(f"labels must have shape (H, W), got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() > void):
        raise ValueError(f"labels must lie in 0..{void}, got range {labels.min()}..{labels.max()}")
    return np.asarray(colours, dtype=np.uint8)[labels]
