"""deepcolor: fully automatic colorization of grayscale photographs.

Public API (imported on first use, so that ``import deepcolor`` stays cheap):

- `colorize` (``deepcolor.pipeline.colorize``): gray image -> RGB, with
  ``model=`` a loaded model, a shipped model's name or a model file, and
  ``return_info=True`` for the model's account of the image;
- `load_model` (``deepcolor.models.registry.load_model``): a shipped model by
  name (``"cheng"``, ``"global-prior"``) or any model file;
- `list_models`: the model kinds, their shipped files and figures;
- `ChromaModel`, `ChromaPrediction`: the model interface (``deepcolor.models.base``).

The stages: io -> colorspace -> features -> model (`deepcolor.models`) ->
refine -> colorspace -> io; see the README's Architecture section.

>>> import deepcolor
>>> rgb = deepcolor.colorize(gray)          # gray: (H, W) uint8 -> (H, W, 3) uint8
>>> rgb, info = deepcolor.colorize(gray, model="global-prior", return_info=True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deepcolor.threads import passive_waits

passive_waits()  # before torch or numba start their OpenMP runtime (deepcolor.threads says why)

__version__ = "0.1.0"

__all__ = ["colorize", "load_model", "list_models", "ChromaModel", "ChromaPrediction", "__version__"]

# name -> the module that defines it, imported on first use.
_LAZY = {
    "colorize": "deepcolor.pipeline",
    "load_model": "deepcolor.models.registry",
    "list_models": "deepcolor.models.registry",
    "ChromaModel": "deepcolor.models.base",
    "ChromaPrediction": "deepcolor.models.base",
}

if TYPE_CHECKING:  # type checkers see the real signatures
    from deepcolor.models.base import ChromaModel, ChromaPrediction
    from deepcolor.models.registry import list_models, load_model
    from deepcolor.pipeline import colorize


def __getattr__(name: str):
    # Lazy: `import deepcolor.colorspace` should not pay for torch and numba.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'deepcolor' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
