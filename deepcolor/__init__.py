"""deepcolor: fully automatic colorization of grayscale photographs.

Public API: `colorize` and `load_model`. Everything else is a stage of the
pipeline, one module each: io -> colorspace -> features -> gist/clustering ->
regressor -> refine -> colorspace -> io.

>>> import deepcolor
>>> rgb = deepcolor.colorize(gray)          # gray: (H, W) uint8 -> (H, W, 3) uint8
"""

__version__ = "0.1.0"

__all__ = ["colorize", "load_model", "__version__"]


def __getattr__(name: str):
    # Lazy: `import deepcolor.colorspace` should not pay for torch and numba.
    if name in ("colorize", "load_model"):
        from deepcolor import colorizer

        return getattr(colorizer, name)
    raise AttributeError(f"module 'deepcolor' has no attribute {name!r}")
