"""Training Cheng's per-pixel MLP (`deepcolor.regressor.Regressor`) by least squares on (descriptor, chroma) pairs."""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from torch import nn

from deepcolor.regressor import ChromaMLP, Regressor

__all__ = ["fit_regressor"]

logger = logging.getLogger("deepcolor.regressor")


def _train_epochs(
    net: nn.Module, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, *, epochs: int, batch_size: int, lr: float,
    weight_decay: float, progress: bool, desc: str, device: str,
) -> float:
    """Adam with a one-cycle schedule on mini-batches drawn by ``gen``; the last epoch's mean squared error."""
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(x.shape[0] / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.1)

    from tqdm.auto import tqdm

    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False)
    loss_value = float("nan")
    net.train()
    for _ in bar:
        order = torch.randperm(x.shape[0], generator=gen)
        total = 0.0
        for start in range(0, x.shape[0], batch_size):
            idx = order[start : start + batch_size].to(device)
            loss = torch.mean((net(x[idx]) - y[idx]) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * idx.shape[0]
        loss_value = total / x.shape[0]
        bar.set_postfix(loss=f"{loss_value:.4f}")
    return loss_value


def fit_regressor(
    features: np.ndarray,
    chroma: np.ndarray,
    *,
    epochs: int = 20,
    batch_size: int = 1024,
    lr: float = 2e-3,
    weight_decay: float = 1e-5,
    hidden: int | None = None,
    seed: int = 0,
    progress: bool = False,
    desc: str = "MLP",
    device: str = "cpu",
) -> Regressor:
    """Train an MLP by least squares on (descriptor, chroma) pairs.

    Parameters
    ----------
    features : ndarray, shape (N, D), float32
    chroma : ndarray, shape (N, 2), float32
        Target YUV U, V.
    epochs, batch_size, lr, weight_decay : training schedule (Adam, cosine decay).
    hidden : int, optional
        Units of each hidden layer (default ``D // 2``, Cheng's choice).
    seed : int
        Seeds the weight init and the batch order: same inputs, same regressor.
    progress : bool
        Show a tqdm bar over epochs.
    device : str
        Torch device the training runs on (``"cuda"`` on a GPU); the returned
        regressor's net is on the CPU either way.

    Returns
    -------
    Regressor
    """
    features = np.asarray(features, dtype=np.float32)
    chroma = np.asarray(chroma, dtype=np.float32)
    if features.ndim != 2 or features.shape[0] == 0:
        raise ValueError(f"features must be a non-empty (N, D) array, got shape {features.shape}")
    if chroma.shape != (features.shape[0], 2):
        raise ValueError(f"chroma must have shape ({features.shape[0]}, 2), got {chroma.shape}")
    if hidden is not None and hidden < 1:
        raise ValueError(f"hidden must be >= 1, got {hidden}")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    if not (np.isfinite(features).all() and np.isfinite(chroma).all()):
        raise ValueError("features and chroma must be finite")

    mean = features.mean(axis=0, dtype=np.float64).astype(np.float32)
    std = features.std(axis=0, dtype=np.float64).astype(np.float32)
    std = np.where(std < 1e-6, 1.0, std).astype(np.float32)  # constant columns stay finite
    target_scale = float(np.sqrt(np.mean(chroma.astype(np.float64) ** 2))) or 1.0

    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x = torch.from_numpy((features - mean) / std).to(device)
    y = torch.from_numpy(chroma / target_scale).to(device)
    net = ChromaMLP(features.shape[1], hidden).to(device)
    loss_value = _train_epochs(net, x, y, gen, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                               progress=progress, desc=desc, device=device)
    net = net.cpu().eval()
    info = {"samples": int(x.shape[0]), "epochs": epochs, "train_mse": loss_value * target_scale**2, "seed": seed}
    logger.debug("trained %s: %s", desc, info)
    return Regressor(net, mean, std, target_scale, info)
