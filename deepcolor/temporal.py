"""Temporal stability for video: shot cuts, optical flow, occlusions, and chroma carried along the motion.

Pure functions on arrays, and two small streaming states (`ChromaCarrier`,
`PointTracks`). The rule (`propagate_chroma`): the chroma of frame t is its
own prediction blended with the previous output frame's chroma warped along
the dense optical flow (OpenCV's DIS on the gray frames) into frame t,

    out_t = (1 - w) * pred_t + w * warp(out_{t-1}),   w = CARRY * soft(valid)

where ``valid`` marks the pixels whose flow passes the forward-backward
check (Sundaram et al. 2010) and whose warped luma matches (a photometric
check), and ``soft`` widens the transition at occlusion borders with a
Gaussian blur. Occluded or newly visible pixels take their own prediction;
the first frame of a shot (`is_cut`) takes only
its own prediction. `ChromaCarrier` runs this rule in a low-resolution
chroma space (`CARRY_SIDE` pixels on the longest side: the flow, its checks
and the blend), and adds the change to the full-resolution prediction, so
the frame's own detail stays. ``CARRY = 0.95``: the carried colour is an
exponential average of about twenty frames' predictions along the motion.
`CARRY` and `CARRY_SIDE` were chosen on the two shared real clips
(benchmarks/select_video.py; docs/video.md); the checks' thresholds on the
first 30 frames of CamVid 0016E5.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "CARRY",
    "CARRY_SIDE",
    "ChromaCarrier",
    "PointTracks",
    "downscale",
    "upscale",
    "track_points",
    "CUT_THRESHOLD",
    "HISTOGRAM_BINS",
    "luma_histogram",
    "histogram_distance",
    "is_cut",
    "dense_flow",
    "warp",
    "consistent_flow",
    "propagate_chroma",
    "warping_error",
]

CARRY = 0.95  # weight of the carried (warped) chroma where the flow is trusted
CARRY_SIDE = 320  # longest side (pixels) of the low-resolution space ChromaCarrier blends in
HISTOGRAM_BINS = 32
# A cut: the histograms of two frames differ by more than this total variation
# (half the L1 distance of the normalized histograms, 0 = same, 1 = disjoint).
CUT_THRESHOLD = 0.45
CUT_GRID = 2  # the frame is split into CUT_GRID x CUT_GRID blocks; the distance is their mean
FB_ALPHA, FB_BETA = 0.01, 1.0  # forward-backward check of Sundaram et al. (2010), in pixels^2
PHOTOMETRIC_TOLERANCE = 0.1  # largest |luma_t - warped luma_{t-1}| (luma in [0, 1]) of a trusted pixel
SOFT_SIGMA = 1.0  # pixels; blur of the trust mask
DIS_PRESET = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
FLOW_MAX_SIDE = 960  # larger frames get their flow from a copy downscaled to this longest side (then upscaled)


def luma_histogram(gray: np.ndarray, *, bins: int = HISTOGRAM_BINS, grid: int = CUT_GRID) -> np.ndarray:
    """Normalized histograms of a frame's blocks.

    Parameters
    ----------
    gray : ndarray, shape (H, W), uint8
    bins, grid : int
        Histogram bins; the frame is split into ``grid x grid`` blocks.

    Returns
    -------
    ndarray, shape (grid * grid, bins), float32; each row sums to 1.
    """
    gray = np.asarray(gray)
    if gray.ndim != 2 or gray.dtype != np.uint8 or gray.size == 0:
        raise ValueError(f"gray must be a non-empty (H, W) uint8 array, got {gray.dtype} {gray.shape}")
    rows = np.array_split(np.arange(gray.shape[0]), grid)
    cols = np.array_split(np.arange(gray.shape[1]), grid)
    out = np.zeros((grid * grid, bins), np.float32)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            block = gray[r[0]:r[-1] + 1, c[0]:c[-1] + 1] if r.size and c.size else gray[:0, :0]
            hist = np.bincount((block.ravel().astype(np.int32) * bins) >> 8, minlength=bins).astype(np.float32)
            out[i * grid + j] = hist / max(1.0, hist.sum())
    return out


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean total-variation distance (in [0, 1]) between two `luma_histogram` results."""
    if a.shape != b.shape:
        raise ValueError(f"histograms differ in shape: {a.shape} and {b.shape}")
    return float(0.5 * np.abs(a - b).sum(axis=1).mean())


def is_cut(previous: np.ndarray, current: np.ndarray, *, threshold: float = CUT_THRESHOLD) -> bool:
    """Whether a shot starts at ``current`` (gray uint8 frames): `histogram_distance` above ``threshold``."""
    return histogram_distance(luma_histogram(previous), luma_histogram(current)) > threshold


def dense_flow(source: np.ndarray, target: np.ndarray, *, preset: int = DIS_PRESET) -> np.ndarray:
    """Dense optical flow from ``source`` to ``target`` (DIS, Kroeger et al. 2016).

    Parameters
    ----------
    source, target : ndarray, shape (H, W), uint8
        Gray frames.

    Returns
    -------
    flow : ndarray, shape (H, W, 2), float32
        ``(dx, dy)`` per pixel: ``source[y, x]`` is seen at ``target[y + dy, x + dx]``.
    """
    for name, frame in (("source", source), ("target", target)):
        if frame.ndim != 2 or frame.dtype != np.uint8:
            raise ValueError(f"{name} must be an (H, W) uint8 frame, got {frame.dtype} {frame.shape}")
    if source.shape != target.shape:
        raise ValueError(f"frames differ in size: {source.shape} and {target.shape}")
    dis = cv2.DISOpticalFlow_create(preset)
    return dis.calc(np.ascontiguousarray(source), np.ascontiguousarray(target), None)


def warp(image: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``image`` at ``(x + dx, y + dy)`` of each pixel (bilinear).

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C), float32
    flow : ndarray, shape (H, W, 2), float32

    Returns
    -------
    warped : ndarray, same shape as ``image``
    inside : ndarray, shape (H, W), bool
        Where the sampled point lies inside the image.
    """
    h, w = flow.shape[:2]
    if image.shape[:2] != (h, w):
        raise ValueError(f"image {image.shape[:2]} and flow {flow.shape[:2]} differ in size")
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x, map_y = xs + flow[..., 0], ys + flow[..., 1]
    warped = cv2.remap(np.ascontiguousarray(image, np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    return warped, inside


def consistent_flow(current: np.ndarray, previous: np.ndarray, *, preset: int = DIS_PRESET, fb_beta: float = FB_BETA,
                    photometric: float = PHOTOMETRIC_TOLERANCE) -> tuple[np.ndarray, np.ndarray]:
    """Flow from each pixel of ``current`` back into ``previous``, and where it can be trusted.

    A pixel is trusted when the backward flow ``b`` (current -> previous) and
    the forward flow ``f`` (previous -> current) read at ``x + b(x)`` cancel,
    ``|b + f|^2 < FB_ALPHA (|b|^2 + |f|^2) + FB_BETA``, the point lands inside
    the previous frame, and the warped previous luma is within
    ``photometric`` (`PHOTOMETRIC_TOLERANCE`) of the current one. Frames with
    a side above `FLOW_MAX_SIDE` get their flow at that size.

    Parameters
    ----------
    current, previous : ndarray, shape (H, W), uint8

    Returns
    -------
    backward : ndarray, shape (H, W, 2), float32
    valid : ndarray, shape (H, W), bool
    """
    scale = max(current.shape) / FLOW_MAX_SIDE
    if scale > 1:  # a large frame: the flow of a smaller copy, upscaled (motion is smooth at this scale)
        size = (max(1, round(current.shape[1] / scale)), max(1, round(current.shape[0] / scale)))
        small = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in (current, previous)]
        full = (current.shape[1], current.shape[0])
        sx, sy = full[0] / size[0], full[1] / size[1]
        backward, forward = (cv2.resize(dense_flow(a, b, preset=preset), full, interpolation=cv2.INTER_LINEAR) * np.float32([sx, sy])
                             for a, b in ((small[0], small[1]), (small[1], small[0])))
    else:
        backward = dense_flow(current, previous, preset=preset)
        forward = dense_flow(previous, current, preset=preset)
    forward_at, inside = warp(forward, backward)
    gap = np.sum((backward + forward_at) ** 2, axis=-1)
    bound = FB_ALPHA * (np.sum(backward ** 2, axis=-1) + np.sum(forward_at ** 2, axis=-1)) + fb_beta
    seen, _ = warp(previous.astype(np.float32) / np.float32(255.0), backward)
    same = np.abs(seen - current.astype(np.float32) / np.float32(255.0)) < photometric
    return backward, (gap < bound) & inside & same


def propagate_chroma(
    prediction: np.ndarray,
    previous_chroma: np.ndarray,
    backward: np.ndarray,
    valid: np.ndarray,
    *,
    carry: float = CARRY,
    sigma: float = SOFT_SIGMA,
) -> np.ndarray:
    """Blend a frame's own chroma with the previous output's chroma carried along the flow.

    Parameters
    ----------
    prediction : ndarray, shape (H, W, 2), float32
        The frame's own U, V.
    previous_chroma : ndarray, shape (H, W, 2), float32
        The previous frame's output U, V.
    backward, valid : ndarray
        From `consistent_flow` (current, previous).
    carry : float in [0, 1)
        Weight of the carried chroma on trusted pixels.
    sigma : float
        Blur (pixels) of the trust mask; 0 keeps it hard.

    Returns
    -------
    ndarray, shape (H, W, 2), float32
    """
    if not 0.0 <= carry < 1.0:
        raise ValueError(f"carry must lie in [0, 1), got {carry}")
    if prediction.shape != previous_chroma.shape or prediction.shape[:2] != valid.shape:
        raise ValueError(f"shapes differ: prediction {prediction.shape}, previous {previous_chroma.shape}, valid {valid.shape}")
    carried, _ = warp(previous_chroma, backward)
    trust = valid.astype(np.float32)
    if sigma > 0:
        # Only shrink the trust near untrusted pixels (min with the hard mask keeps occlusions at 0).
        trust = np.minimum(trust, cv2.GaussianBlur(trust, (0, 0), sigma))
    weight = (np.float32(carry) * trust)[..., None]
    return (prediction + weight * (carried - prediction)).astype(np.float32)


def warping_error(chroma: np.ndarray, previous_chroma: np.ndarray, backward: np.ndarray, valid: np.ndarray) -> float:
    """Temporal warping error (Lai et al. 2018) of one frame pair, on chroma.

    The mean over trusted pixels of the Euclidean distance between the U, V of
    frame t and those of frame t-1 warped into it by ``backward``.

    Returns
    -------
    float
        NaN when no pixel is trusted.
    """
    carried, _ = warp(previous_chroma, backward)
    if not valid.any():
        return float("nan")
    return float(np.sqrt(np.sum((chroma - carried) ** 2, axis=-1))[valid].mean())


def downscale(image: np.ndarray, side: int) -> np.ndarray:
    """``image`` (H, W) or (H, W, C) area-averaged to at most ``side`` pixels on its longest side (unchanged when smaller)."""
    h, w = image.shape[:2]
    scale = max(h, w) / side
    if scale <= 1:
        return image
    return cv2.resize(image, (max(1, round(w / scale)), max(1, round(h / scale))), interpolation=cv2.INTER_AREA)


def upscale(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``image`` (h, w) or (h, w, C) float32 resized bilinearly to ``shape`` (H, W)."""
    if image.shape[:2] == tuple(shape):
        return image
    out = cv2.resize(np.ascontiguousarray(image, np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return out.reshape(tuple(shape) + image.shape[2:])


class ChromaCarrier:
    """Chroma carried along the motion through one shot, frame by frame, in a low-resolution chroma space.

    The flow, its checks and the blend of `propagate_chroma` run on copies of
    the frames at most ``side`` pixels on their longest side (chroma is
    smooth; the motion too at that scale). The frame's own prediction keeps
    its full-resolution detail: the output is the prediction plus the
    upscaled change the blend made to its low-resolution copy,
    ``pred + up(blend_small - down(pred))``.

    Parameters
    ----------
    carry, sigma
        As for `propagate_chroma`.
    side : int
        Longest side (pixels) of the low-resolution space.
    fb_beta, photometric
        As for `consistent_flow` (in the low-resolution pixels).
    """

    def __init__(self, *, carry: float = CARRY, side: int = CARRY_SIDE, sigma: float = SOFT_SIGMA, fb_beta: float = FB_BETA,
                 photometric: float = PHOTOMETRIC_TOLERANCE) -> None:
        if not 0.0 <= carry < 1.0:
            raise ValueError(f"carry must lie in [0, 1), got {carry}")
        if side < 8:
            raise ValueError(f"side must be at least 8 pixels, got {side}")
        self.carry, self.side, self.sigma, self.fb_beta, self.photometric = carry, side, sigma, fb_beta, photometric
        self._previous: tuple[np.ndarray, np.ndarray] | None = None

    def reset(self) -> None:
        """Forget the previous frame (a new shot starts)."""
        self._previous = None

    def step(self, gray: np.ndarray, prediction: np.ndarray) -> np.ndarray:
        """The output chroma of the next frame of the shot.

        Parameters
        ----------
        gray : ndarray, shape (H, W), uint8
            The frame (its Y plane).
        prediction : ndarray, shape (H, W, 2), float32
            Its own U, V.

        Returns
        -------
        ndarray, shape (H, W, 2), float32; ``prediction`` itself on a shot's first frame.
        """
        small_gray = downscale(gray, self.side)
        small_prediction = downscale(prediction, self.side)
        if self._previous is None:
            self._previous = (small_gray, small_prediction)
            return prediction
        backward, valid = consistent_flow(small_gray, self._previous[0], fb_beta=self.fb_beta, photometric=self.photometric)
        blended = propagate_chroma(small_prediction, self._previous[1], backward, valid, carry=self.carry, sigma=self.sigma)
        self._previous = (small_gray, blended)
        if small_prediction.shape == prediction.shape:  # a frame no larger than the space: blended at its own size
            return blended
        return (prediction + upscale(blended - small_prediction, gray.shape)).astype(np.float32)


def _sample(field: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear samples (N, C) of ``field`` (h, w, C) float32 at ``points`` (N, 2) ``(x, y)`` (clamped to the border)."""
    xs = points[:, 0].astype(np.float32).reshape(1, -1)
    ys = points[:, 1].astype(np.float32).reshape(1, -1)
    return cv2.remap(np.ascontiguousarray(field, np.float32), xs, ys, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE).reshape(points.shape[0], -1)


def track_points(points: np.ndarray, previous: np.ndarray, current: np.ndarray, *, side: int = 960,
                 tolerance: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Follow points from one frame to the next along the forward flow.

    Parameters
    ----------
    points : ndarray, shape (N, 2), float
        ``(x, y)`` in ``previous`` (pixels).
    previous, current : ndarray, shape (H, W), uint8
        Consecutive gray frames.
    side : int
        The flow runs on copies at most this many pixels on their longest side.
    tolerance : float
        Largest distance (pixels of the flow's copy) between a point and where
        the backward flow takes its new position back to (plus 5% of the
        motion): farther, the point is lost (occluded or the flow unsure).

    Returns
    -------
    moved : ndarray, shape (N, 2), float32
    alive : ndarray, shape (N,), bool
        Inside ``current`` and passing the forward-backward check.
    """
    points = np.asarray(points, np.float32).reshape(-1, 2)
    if previous.shape != current.shape:
        raise ValueError(f"frames differ in size: {previous.shape} and {current.shape}")
    small_previous, small_current = downscale(previous, side), downscale(current, side)
    scale = np.float32([small_current.shape[1] / current.shape[1], small_current.shape[0] / current.shape[0]])
    if points.size == 0:
        return points, np.zeros(0, bool)
    forward = dense_flow(small_previous, small_current)
    backward = dense_flow(small_current, small_previous)
    start = (points + 0.5) * scale - 0.5  # pixel centres of the small copy
    step = _sample(forward, start)
    end = start + step
    back = _sample(backward, end)
    gap = np.hypot(*(end + back - start).T)
    h, w = small_current.shape
    inside = (end[:, 0] >= 0) & (end[:, 0] <= w - 1) & (end[:, 1] >= 0) & (end[:, 1] <= h - 1)
    alive = inside & (gap <= tolerance + 0.05 * np.hypot(*step.T))
    return ((end + 0.5) / scale - 0.5).astype(np.float32), alive


class PointTracks:
    """Points placed on frames of a video (hints), followed along the motion to the end of their shot.

    Parameters
    ----------
    placed : dict of int to ndarray (N, 2)
        Frame index -> the ``(x, y)`` of the points placed on it (their order is their id there).
    side : int
        The tracking flow runs at most this many pixels on the longest side.

    `step` is called for every frame in order; a point lives from its frame to
    the next cut (or until the flow loses it: out of the frame, occluded).
    """

    def __init__(self, placed: dict[int, np.ndarray], *, side: int = 960) -> None:
        self.placed = {int(k): np.asarray(v, np.float32).reshape(-1, 2) for k, v in placed.items()}
        self.side = side
        self._ids: list[tuple[int, int]] = []  # (frame placed, index there) of each live point
        self._points = np.zeros((0, 2), np.float32)
        self._previous: np.ndarray | None = None

    def step(self, index: int, gray: np.ndarray, starts_shot: bool) -> tuple[list[tuple[int, int]], np.ndarray, bool]:
        """The live points on frame ``index``: their ids ``(frame placed, index)``, positions (M, 2), and whether points start here."""
        if starts_shot:
            self._ids, self._points = [], np.zeros((0, 2), np.float32)
        elif self._ids and self._previous is not None:
            moved, alive = track_points(self._points, self._previous, gray, side=self.side)
            self._ids = [i for i, keep in zip(self._ids, alive) if keep]
            self._points = moved[alive]
        new = self.placed.get(index)
        if new is not None and len(new):
            self._ids += [(index, i) for i in range(len(new))]
            self._points = np.concatenate([self._points, new])
        self._previous = gray
        return list(self._ids), self._points.copy(), new is not None and len(new) > 0
