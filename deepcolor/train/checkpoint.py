"""Training checkpoints: a plain dict of tensors and numbers, written through the one atomic writer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deepcolor.io.write import atomic_open

__all__ = ["save_checkpoint"]


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """``torch.save`` of ``state`` to ``path``, atomically: an interrupted write leaves the previous checkpoint
    (readable with ``torch.load(..., weights_only=True)``)."""
    import torch

    with atomic_open(path, "wb") as fh:
        torch.save(state, fh)
