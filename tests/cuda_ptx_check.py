"""Compile every CUDA kernel to PTX for an H100 (sm_90) with the real numba.cuda compiler, no GPU needed.

Not a test module: ``tests/test_kernels_cuda.py`` runs it in a subprocess.
The simulator runs kernels as Python, so it accepts code the CUDA compiler
rejects (numba 0.68's CUDA target cannot type ``min(int, int)``, for one);
this catches that, and counts float64 instructions (the kernels are meant to
be float32 throughout). Needs libNVVM (a CUDA toolkit), not a driver: numba
asks the driver for the device's compute capability when compiling a device
function, so this process pretends to be on a compute-capability 9.0 device.
Prints JSON ``{"kernels": {name: count of float64 instructions}}`` or
``{"skip": reason}``.

    python tests/cuda_ptx_check.py
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CC = (9, 0)


def main() -> dict:
    import numba.cuda.dispatcher
    from numba import cuda
    from numba import types as nt

    try:
        cuda.compile_ptx(lambda a: None, (nt.float32[:],), cc=CC)
    except Exception as exc:  # no libNVVM, or one too old for sm_90
        return {"skip": f"numba.cuda cannot compile PTX here ({type(exc).__name__}: {exc})".splitlines()[0]}
    numba.cuda.dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=CC)

    from deepcolor.kernels import bilateral_cuda, daisy_cuda, domain_transform_cuda, patch_cuda

    f32, i64, flag = nt.float32, nt.int64, nt.boolean

    def arr(dtype, ndim):
        return nt.Array(dtype, ndim, "C")

    # The argument types the host functions launch with.
    signatures = [
        (patch_cuda.patch_kernel, (arr(f32, 2), i64, arr(f32, 3))),
        (patch_cuda.gather_kernel, (arr(f32, 2), i64, arr(i64, 1), i64, arr(f32, 2), i64)),
        (daisy_cuda.orientation_kernel, (arr(f32, 2), i64, arr(f32, 1), arr(f32, 1), f32, arr(f32, 3))),
        (daisy_cuda.smooth_kernel, (arr(f32, 3), arr(f32, 1), flag, arr(f32, 3))),
        (daisy_cuda.assemble_kernel, (arr(f32, 3), arr(i64, 2), i64, arr(f32, 3))),
        (
            bilateral_cuda.joint_bilateral_kernel,
            (arr(f32, 2), arr(f32, 3), arr(i64, 1), arr(i64, 1), arr(f32, 1), f32, arr(f32, 3)),
        ),
        (domain_transform_cuda.transform_weights_kernel, (arr(f32, 2), f32, f32, arr(f32, 2), arr(f32, 2))),
        (domain_transform_cuda.recursive_kernel, (arr(f32, 3), arr(f32, 2), flag, i64)),
    ]
    kernels = {}
    for kernel, signature in signatures:
        ptx, _ = cuda.compile_ptx(kernel.py_func, signature, cc=CC)
        # %fd registers hold float64 values: any instruction naming one does float64 work.
        kernels[kernel.py_func.__name__] = sum("%fd" in line for line in ptx.splitlines() if not line.lstrip().startswith(".reg"))
    return {"kernels": kernels}


if __name__ == "__main__":
    print(json.dumps(main()))
