"""Which device the dense kernels run on, and moving arrays between CuPy and torch.

`resolve_device` turns ``--device auto|cpu|cuda`` into ``"cpu"`` or
``"cuda"``: ``auto`` takes the GPU only when CuPy and numba.cuda both work on
a real one, and `device_notice` says in one line which was chosen and why, so
a silent CPU fallback cannot cost anyone hours. Nothing here imports CuPy,
numba.cuda or torch at module import: the CPU path must never pay for them.

On the GPU, arrays stay on the device between stages: `cupy_to_torch` and
`torch_to_cupy` share memory through DLPack, without a host copy.
"""

from __future__ import annotations

import functools
import os
import types
import weakref
from typing import Any

from deepcolor.errors import InputError
from deepcolor.kernels.arrays import array_module

__all__ = [
    "DEVICES",
    "resolve_device",
    "cuda_unavailable_reason",
    "device_notice",
    "cupy_to_torch",
    "torch_to_cupy",
    "device_array_module",
    "array_module_for",
    "device_of",
    "simulated",
    "torch_device",
    "to_torch",
    "from_torch",
    "module_on",
    "synchronize",
    "to_host",
]

DEVICES = ("auto", "cpu", "cuda")


@functools.lru_cache(maxsize=1)
def cuda_unavailable_reason() -> str | None:
    """Why the CUDA path cannot run here, in a few words, or None when it can.

    Probes once per process (cached): CuPy imports and computes on the
    current device, and numba.cuda sees a real (not simulated) GPU and
    compiles and launches a one-thread kernel on CuPy memory.
    """
    if simulated():
        # The simulator runs kernels as Python on numpy arrays: for tests, never for work.
        return "numba's CUDA simulator is enabled (NUMBA_ENABLE_CUDASIM), not a real GPU"
    try:
        import cupy
    except ImportError:
        return "CuPy is not installed (pip install 'deepcolor[gpu]')"
    except Exception as exc:  # a broken CUDA install raises more than ImportError
        return f"CuPy does not import ({type(exc).__name__}: {exc})".splitlines()[0]
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "CuPy finds no CUDA GPU"
        int((cupy.arange(4, dtype=cupy.float32) + 1).sum())
    except Exception as exc:
        return f"CuPy cannot use the GPU ({type(exc).__name__}: {exc})".splitlines()[0]
    try:
        from numba import cuda
    except Exception as exc:
        return f"numba.cuda does not import ({type(exc).__name__}: {exc})".splitlines()[0]
    if not cuda.is_available():
        return "numba.cuda finds no usable CUDA driver or GPU"
    try:
        # Compile and launch one tiny kernel on CuPy memory: catches a missing libNVVM or
        # a toolkit too old for the GPU here, not at the first real kernel.
        def _fill(out):  # pragma: no cover - device code
            out[0] = 1.0

        probe = cupy.zeros(1, dtype=cupy.float32)
        cuda.jit(_fill)[1, 1](probe)
        if float(probe[0]) != 1.0:
            return "a numba.cuda kernel ran but wrote nothing"
    except Exception as exc:
        return f"numba.cuda cannot compile or launch a kernel ({type(exc).__name__}: {exc})".splitlines()[0]
    return None


def simulated() -> bool:
    """Whether numba's CUDA simulator is enabled (``NUMBA_ENABLE_CUDASIM``): kernels run as Python on numpy arrays."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def resolve_device(name: str) -> str:
    """The device the dense stages run on.

    Parameters
    ----------
    name : {"auto", "cpu", "cuda"}
        ``auto``: ``"cuda"`` when CuPy and numba.cuda both work on a real GPU,
        else ``"cpu"``. ``cpu`` and ``cuda`` are taken as asked.

    Returns
    -------
    device : {"cpu", "cuda"}

    Raises
    ------
    ValueError
        On an unknown name, or ``"cuda"`` without a working GPU (one line
        saying why).
    """
    if name not in DEVICES:
        raise InputError(f"device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "cpu":
        return "cpu"
    reason = cuda_unavailable_reason()
    if name == "cuda" and reason is not None:
        raise InputError(f"--device cuda: no usable GPU: {reason}")
    return "cpu" if reason is not None else "cuda"


def device_notice(device: str, requested: str = "auto") -> str:
    """The one-line notice of the device in use, e.g. ``deepcolor: running on cpu (no usable GPU: ...)``.

    Parameters
    ----------
    device : {"cpu", "cuda"}
        What `resolve_device` returned.
    requested : {"auto", "cpu", "cuda"}
        What the user asked for.

    Returns
    -------
    notice : str
        One line, no trailing newline.
    """
    if device not in ("cpu", "cuda") or requested not in DEVICES:
        raise ValueError(f"device must be cpu or cuda and requested one of {DEVICES}, got {device!r}, {requested!r}")
    if device == "cuda":
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        detail = f"{name}, CuPy {cupy.__version__}"
    elif requested == "cpu":
        detail = "as requested"
    else:
        detail = f"no usable GPU: {cuda_unavailable_reason()}"
    return f"deepcolor: running on {device} ({detail})"


def cupy_to_torch(array: Any):
    """A torch tensor sharing the memory of a CuPy array (DLPack, no copy).

    Parameters
    ----------
    array : cupy.ndarray
        On the current CUDA device, any shape and dtype torch supports.

    Returns
    -------
    tensor : torch.Tensor
        On ``cuda``, same shape, dtype and memory; writes through either are
        seen by the other.
    """
    import torch

    if array_module(array).__name__ != "cupy":
        raise ValueError(f"expected a cupy.ndarray, got {type(array).__name__}")
    return torch.from_dlpack(array)


def torch_to_cupy(tensor: Any):
    """A CuPy array sharing the memory of a CUDA torch tensor (DLPack, no copy).

    Parameters
    ----------
    tensor : torch.Tensor
        On a CUDA device; detached (DLPack cannot carry autograd state).

    Returns
    -------
    array : cupy.ndarray
        Same shape, dtype and memory.
    """
    import cupy
    import torch

    if not isinstance(tensor, torch.Tensor) or tensor.device.type != "cuda":
        where = tensor.device if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise ValueError(f"expected a CUDA torch.Tensor, got {where}")
    return cupy.from_dlpack(tensor.detach())


def device_array_module():
    """The module of device arrays: ``cupy``, or ``numpy`` under numba's CUDA simulator.

    The simulator runs the numba.cuda kernels as Python on numpy arrays, so
    the GPU path runs end to end on the CPU in tests, with torch on the CPU.
    """
    from numba import config

    if config.ENABLE_CUDASIM:
        return _SIMULATED_DEVICE
    import cupy

    return cupy


class _SimulatedDevice(types.ModuleType):
    """numpy under the simulator's device identity: arrays are numpy's, but `device_of` says ``"cuda"``."""

    def __getattr__(self, name: str) -> Any:
        import numpy

        return getattr(numpy, name)


_SIMULATED_DEVICE = _SimulatedDevice("numpy")  # named numpy: torch and DLPack treat its arrays as host arrays


def device_of(xp: Any) -> str:
    """The device whose arrays ``xp`` makes: ``"cpu"`` for numpy, ``"cuda"`` for CuPy (or numpy under numba's
    CUDA simulator, as `array_module_for` ("cuda") returns it there)."""
    import numpy

    return "cpu" if xp is numpy else "cuda"


def array_module_for(device: str):
    """The array module of ``device``'s arrays: numpy for ``"cpu"`` (nothing else imported), else `device_array_module`."""
    if device == "cpu":
        import numpy

        return numpy
    if device != "cuda":
        raise ValueError(f"device must be cpu or cuda, got {device!r}")
    return device_array_module()


def torch_device(xp) -> str:
    """The torch device that shares memory with arrays of ``xp``: ``"cuda"`` for CuPy, ``"cpu"`` for numpy."""
    return "cuda" if xp.__name__ == "cupy" else "cpu"


def to_torch(array: Any):
    """A torch tensor sharing the memory of a CuPy (DLPack) or numpy array, no copy."""
    import torch

    if array_module(array).__name__ == "cupy":
        return cupy_to_torch(array)
    return torch.from_numpy(array)


def from_torch(tensor: Any, xp):
    """An ``xp`` array sharing the memory of a torch tensor on `torch_device` (xp), no copy."""
    if xp.__name__ == "cupy":
        return torch_to_cupy(tensor)
    return tensor.detach().numpy()


# module -> {device: its copy there}; weak, so a model dropped by its owner frees its GPU copies.
_MODULE_COPIES: "weakref.WeakKeyDictionary[Any, dict[str, Any]]" = weakref.WeakKeyDictionary()


def module_on(module: Any, device: str):
    """``module`` itself on ``"cpu"``, else its copy on ``device`` in eval mode (made once, then kept).

    The original stays where it is, so the same model keeps working on the
    CPU; parameters are copied to the device once per module, not per image.
    """
    if device == "cpu":
        return module
    copies = _MODULE_COPIES.setdefault(module, {})
    if device not in copies:
        import copy

        copies[device] = copy.deepcopy(module).to(device).eval()
    return copies[device]


def synchronize(xp) -> None:
    """Wait for the device's queued work (stage timings); nothing for numpy."""
    if xp.__name__ == "cupy":
        xp.cuda.Device().synchronize()


def to_host(array: Any):
    """A numpy array with the values of a CuPy array (one device -> host copy) or numpy array (itself)."""
    import numpy

    return array.get() if array_module(array).__name__ == "cupy" else numpy.asarray(array)
