"""Reading, writing and naming image files (see read.py, write.py, paths.py).

Every odd input gives either a correct image or a one-line error
(`ImageReadError` / `ImageWriteError`, message ``"<path>: <reason>"``);
inputs are never modified and outputs are written atomically.
"""

from deepcolor.io.common import (
    DEFAULT_MAX_PIXELS,
    SUPPORTED_EXTENSIONS,
    ImageReadError,
    ImageWriteError,
    is_image_path,
)
from deepcolor.io.claims import written_since
from deepcolor.io.paths import (
    PlannedOutput,
    claim_output,
    drop_own_outputs,
    ensure_not_input,
    expand_inputs,
    find_inputs,
    list_images,
    match_pairs,
    no_inputs_message,
    output_paths,
    plan_outputs,
    read_manifest,
    semantic_path,
)
from deepcolor.io.read import LoadedImage, read_image
from deepcolor.io.write import atomic_open, atomic_write_bytes, write_image

__all__ = [
    "ImageReadError",
    "ImageWriteError",
    "SUPPORTED_EXTENSIONS",
    "DEFAULT_MAX_PIXELS",
    "LoadedImage",
    "read_image",
    "write_image",
    "atomic_open",
    "atomic_write_bytes",
    "is_image_path",
    "list_images",
    "expand_inputs",
    "find_inputs",
    "read_manifest",
    "drop_own_outputs",
    "plan_outputs",
    "PlannedOutput",
    "semantic_path",
    "claim_output",
    "written_since",
    "match_pairs",
    "no_inputs_message",
    "output_paths",
    "ensure_not_input",
]
