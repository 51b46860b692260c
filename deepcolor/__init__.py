"""deepcolor: fully automatic colorization of grayscale photographs.

Public API: `colorize` and `load_model` (from `deepcolor.pipeline`, imported on
first use so that `import deepcolor` stays cheap). The stages: io ->
colorspace -> features -> model (`deepcolor.models`) -> refine -> colorspace
-> io; see the README's Architecture section.

>>> import deepcolor
>>> rgb = deepcolor.colorize(gray)          # gray: (H, W) uint8 -> (H, W, 3) uint8
"""

__version__ = "0.1.0"

__all__ = ["colorize", "load_model", "__version__"]


def __getattr__(name: str):
    # Lazy: `import deepcolor.colorspace` should not pay for torch and numba.
    if name in ("colorize", "load_model"):
        from deepcolor import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'deepcolor' has no attribute {name!r}")
