"""Which array module an array belongs to: numpy, or CuPy for a device array (CuPy imported only then)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["array_module"]


def array_module(array: Any):
    """``cupy`` for a CuPy array, else ``numpy``; never imports CuPy for a numpy array."""
    if type(array).__module__.split(".")[0] == "cupy":
        import cupy

        return cupy
    return np
