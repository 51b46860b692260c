"""The command-line parsers: flags, types and help of every command; nothing runs here.

Parsers import no Dask, probe no GPU and load no weights: the model flags
(``--method`` and each model kind's options) are built from the declarations
in `deepcolor.models.registry`. What the commands share at run time is
`deepcolor.cli.runtime`; the ``deepcolor`` command itself `deepcolor.cli.main`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from deepcolor.cli.runtime import EXIT_USAGE, option_dest, shown

__all__ = ["apply_parser", "evaluate_parser", "fit_parser", "fcn_parser", "global_prior_parser",
           "positive_int", "count_or_all", "saturation", "new_file", "loudness_flags", "OneLineParser"]


def _add_device_flag(p: argparse.ArgumentParser) -> None:
    from deepcolor.kernels.device import DEVICES  # numpy only: no CuPy, numba.cuda or torch

    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="where the per-pixel work runs: auto (the GPU when one works, else the CPU; "
                   "one line says which), cpu, or cuda (an error without a usable GPU)")


class OneLineParser(argparse.ArgumentParser):
    """argparse with a one-line error (``PROG: error: ...``) instead of usage plus error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {shown(message)}\n")


def _int_at_least(text: str, minimum: int, meaning: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise argparse.ArgumentTypeError(f"must be {meaning}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (argparse type)."""
    return _int_at_least(text, 1, "a positive integer")


def count_or_all(text: str) -> int:
    """An integer >= 0, 0 meaning all (argparse type)."""
    return _int_at_least(text, 0, "an integer >= 0 (0: all)")


def saturation(text: str) -> float:
    """A chroma gain in [0, MAX_SATURATION] (argparse type; the bound is `deepcolor.colorspace.check_saturation`'s)."""
    from deepcolor.colorspace import check_saturation

    try:
        return check_saturation(float(text))
    except ValueError:
        from deepcolor.colorspace import MAX_SATURATION

        raise argparse.ArgumentTypeError(f"must be a number in [0, {MAX_SATURATION:g}], got {text!r}") from None


def new_file(text: str) -> Path:
    """A file to be written: not a folder, in a folder that exists (argparse type; nothing is created)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; give a file name")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"folder {path.parent} does not exist")
    return path


def loudness_flags() -> argparse.ArgumentParser:
    """``-q`` and ``-v``, which every command takes."""
    p = argparse.ArgumentParser(add_help=False)
    loud = p.add_mutually_exclusive_group()
    loud.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    loud.add_argument("-v", "--verbose", action="store_true", help="progress detail, and the full traceback of an internal error")
    return p


def _model_flags() -> argparse.ArgumentParser:
    """The flags apply and evaluate share: which model, each kind's options (from the registry), where and how loud."""
    from deepcolor.models.registry import DEFAULT_METHOD, entry, model_class, names

    p = argparse.ArgumentParser(add_help=False, parents=[loudness_flags()])
    kinds = names()
    p.add_argument("--method", choices=kinds, default=None,
                   help="model kind (default: the kind of --model, else %s): " % DEFAULT_METHOD
                   + "; ".join(f"{n}: {entry(n).summary}" for n in kinds))
    p.add_argument("--model", metavar="MODEL", help="model file (default: the shipped model of --method)")
    p.add_argument("--no-refine", action="store_true", help="skip the joint bilateral refinement")
    by_flag: dict[str, list] = {}
    for name in kinds:
        for option in getattr(model_class(name), "options", ()):
            by_flag.setdefault(option.flag, []).append((name, option))
    for flag, owners in by_flag.items():
        option = owners[0][1]
        default = ("on" if option.default else "off") if option.type is bool else option.default
        help_text = f"{'/'.join(n for n, _ in owners)}'s option {option.name} (default {default}): {option.help}"
        if option.type is bool:
            p.add_argument(flag, dest=option_dest(flag), action="store_const", const=not option.default,
                           default=argparse.SUPPRESS, help=help_text)
        else:
            p.add_argument(flag, dest=option_dest(flag), type=option.type, default=argparse.SUPPRESS, help=help_text)
    _add_device_flag(p)
    return p


def _engine_flags() -> argparse.ArgumentParser:
    """The flags of the commands that run a batch on the engine (apply, fit): where it runs."""
    p = argparse.ArgumentParser(add_help=False)
    group = p.add_argument_group("distributed (needs the 'distributed' extra: dask, distributed)")
    group.add_argument("--workers", type=int, default=0, metavar="N", help="run on a local Dask cluster of N single-threaded processes")
    group.add_argument("--scheduler", metavar="ADDRESS", help="run on a running dask.distributed cluster (tcp://host:8786)")
    return p


def apply_parser(prog: str = "python -m deepcolor.apply") -> argparse.ArgumentParser:
    """``deepcolor colorize`` (``python -m deepcolor.apply``): files and folders, or ``--example``."""
    parser = OneLineParser(
        prog=prog,
        parents=[_model_flags(), _engine_flags()],
        description="Colorize grayscale photographs. Outputs are written atomically; inputs are never "
        "overwritten; existing outputs are kept (so a re-run resumes a batch) unless --overwrite.",
    )
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="image files or folders")
    parser.add_argument("--example", action="store_true",
                        help="colorize a photo shipped with scikit-image (the astronaut, made gray): writes "
                        "example_gray.png and example_colorized.png into the current folder (or -o FOLDER)")
    parser.add_argument("-o", "--output", metavar="OUTPUT", help="output file (one input, with an image extension) or folder (several inputs; a name without an image "
                        "extension is made as a folder); default: NAME_colorized.EXT beside each input")
    parser.add_argument("--saturation", type=saturation, default=1.0, help="chroma gain in [0, 10] (default 1.0: as predicted)")
    parser.add_argument("--style", metavar="REF", help="take the global features (the scene) from this image (models with a style reference: global-prior)")
    parser.add_argument("--format", metavar="EXT", help="output format for every image (e.g. png); default: keep each input's")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--save-semantic", action="store_true", help="also write the model's label map (NAME.semantic.png; models with one: cheng, its FCN's classes in CamVid colours)")
    parser.add_argument("--recursive", action="store_true", help="descend into sub-folders of input folders; with -o DIR, mirror the tree")
    parser.add_argument("--max-pixels", type=positive_int, default=None, help="refuse images with more pixels (default: 100 million)")
    parser.add_argument("--profile", action="store_true", help="then colorize the first input image once more and print where the "
                        "time of that call goes (stage names, seconds) on stderr")
    video = parser.add_argument_group("video (inputs .mp4 .mov .mkv .avi .webm .m4v; needs the 'video' extra: PyAV)")
    video.add_argument("--crf", type=int, default=None, metavar="N", help="encoder quality, 0 (lossless) to 51 (default 18)")
    video.add_argument("--codec", default=None, metavar="NAME", help="FFmpeg encoder (default libx264; libvpx-vp9 into .webm)")
    video.add_argument("--fps", type=float, default=None, metavar="RATE", help="each input is a folder of numbered frames, one video at this rate")
    video.add_argument("--per-frame", action="store_true", help="colour each frame on its own (no chroma carried along the motion)")
    return parser


def evaluate_parser(prog: str = "python -m deepcolor.evaluate") -> argparse.ArgumentParser:
    """``deepcolor evaluate`` (``python -m deepcolor.evaluate``)."""
    parser = OneLineParser(
        prog=prog,
        parents=[_model_flags()],
        description="Colorize the gray version of colour images and compare with the originals "
        "(PSNR on 8-bit RGB, peak 255, no resizing; gray baseline = zero chroma). "
        "The last line of output is one JSON object.",
    )
    parser.add_argument("--images", nargs="+", required=True, metavar="DIR_OR_LIST")
    parser.add_argument("--csv", metavar="FILE", type=new_file, help="per-image rows (image, PSNR, gray PSNR, gain, colorfulness, seconds, then the model's account, e.g. Cheng's cluster)")
    parser.add_argument("--limit", type=count_or_all, default=0, help="at most this many images (0: all)")
    return parser


def fit_parser(prog: str = "python -m deepcolor.fit") -> argparse.ArgumentParser:
    """``deepcolor fit cheng`` (``python -m deepcolor.fit``): the Cheng colorizer (``fit semantic`` is `fcn_parser`)."""
    parser = OneLineParser(
        prog=prog,
        parents=[_engine_flags(), loudness_flags()],
        description="Train a colorization model on folders of colour photographs. "
        "This is Cheng's colorizer ('deepcolor fit cheng'); 'deepcolor fit semantic --help' trains the FCN, "
        "'deepcolor fit global-prior --help' the global-prior CNN (also python -m deepcolor.fit semantic|global-prior).",
    )
    parser.add_argument("--images", nargs="+", required=True, metavar="DIR_OR_LIST", help="training folders or manifest files (.txt)")
    parser.add_argument("--val-images", nargs="*", default=[], metavar="DIR_OR_LIST", help="held-out folders or manifests: validation PSNR")
    parser.add_argument("--out", required=True, metavar="MODEL", type=new_file, help="output model file (.safetensors)")
    parser.add_argument("--fcn", metavar="FCN", help="semantic network for the descriptor: an FCN file (11 CamVid classes, 92-d; default the shipped one) or a scene FCN file (24 classes, 105-d, e.g. the shipped scene_fcn.safetensors)")
    parser.add_argument("--no-semantic", action="store_true", help="train only the 81-d variant, without the FCN")
    parser.add_argument("--no-clusters", action="store_true", help="train only the global MLP (no Algorithm 3)")
    parser.add_argument("--samples-per-image", type=int, default=1000, help="pixels sampled from each training image")
    parser.add_argument("--global-samples", type=int, default=600_000, help="at most this many samples train one MLP (a random subset)")
    parser.add_argument("--cluster-samples-per-image", type=int, default=0,
                        help="a cluster MLP trains on this many samples of each of its images (0: all --samples-per-image)")
    parser.add_argument("--hidden", type=int, default=0, help="hidden units of each MLP layer (0: half the descriptor, Cheng's D/2)")
    parser.add_argument("--no-plain-clusters", action="store_true",
                        help="train the 81-d variant (--no-semantic) for the global MLP only; its images then skip the clusters")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-top", type=int, default=24, help="clusters on the top layer (Cheng: N0 = 24)")
    parser.add_argument("--mu", type=float, default=80.0, help="images per cluster below the top layer (Cheng: 80)")
    parser.add_argument("--epsilon", type=float, default=-26.0, help="error threshold in dB, -PSNR (Cheng: -26)")
    parser.add_argument("--min-cluster-size", type=int, default=12, help="never train a cluster MLP on fewer images")
    parser.add_argument("--max-layers", type=int, default=4)
    parser.add_argument("--min-layer-gain", type=float, default=0.0,
                        help="keep a lower layer only if it raises its images' mean training PSNR by more than this (dB)")
    parser.add_argument("--keep-all-layers", action="store_true", help="keep every layer, as the paper (ignores --min-layer-gain)")
    parser.add_argument("--top-k", type=int, default=3, help="gist candidates among which semantics chooses")
    parser.add_argument("--no-descend", action="store_true", help="test-time choice among top-layer clusters only")
    parser.add_argument("--routing", choices=("gist", "encoder"), default="gist",
                        help="what clusters are made and chosen on: the gist (Cheng's) or the scene FCN encoder's pooled feature "
                        "(needs a scene FCN --fcn and samples cached with it by benchmarks/cheng_semantics.py prefill)")
    parser.add_argument("--work", metavar="DIR", help="cache of samples and trained MLPs (default: MODEL.work)")
    parser.add_argument("--max-val-images", type=count_or_all, default=0, help="validate on at most this many images (0: all)")
    parser.add_argument("--no-calibrate", action="store_true",
                        help="do not fit the global gain, the cluster blends (and fallbacks) and the colour gain on the validation images")
    parser.add_argument("--colour-tolerance", type=float, default=0.05,
                        help="dB of median validation gain the fitted colour gain may cost (negative: no colour gain)")
    parser.add_argument("--no-validation-report", action="store_true",
                        help="skip the full-resolution evaluation of the validation images for the model card (they still calibrate)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for the MLPs (default 1: they are small, and more threads on a busy machine "
                        "thrash; 0 = torch's default)")
    _add_device_flag(parser)
    return parser


def scene_parser(prog: str = "python -m deepcolor.fit scene") -> argparse.ArgumentParser:
    """``deepcolor fit scene``: the general-scene FCN on the pretrained encoder (`deepcolor.train.scene_fcn`)."""
    p = OneLineParser(prog=prog, parents=[loudness_flags()],
                      description="Train the general-scene FCN (frozen EfficientNet-Lite0 + decoder) on gray CamVid and MSRC-21.")
    p.add_argument("--train", nargs="+", required=True, metavar="LIST", help="manifests; their CamVid and MSRC-21 images with labels train")
    p.add_argument("--select", nargs="+", required=True, metavar="LIST", help="manifests: the decoder kept is the best on these")
    p.add_argument("--test", nargs="*", default=[], metavar="LIST", help="manifests scored at the end (CamVid and MSRC separately)")
    p.add_argument("--out", required=True, metavar="MODEL", type=new_file, help="output model file (.safetensors; scores beside it as .json)")
    p.add_argument("--time-budget", type=positive_int, required=True, metavar="SECONDS", help="wall seconds, encoder caching included")
    p.add_argument("--width", type=positive_int, default=64, help="decoder channels (default 64)")
    p.add_argument("--checkpoint", default=None, metavar="FILE", help="where the best decoder so far is saved")
    p.add_argument("--threads", type=positive_int, default=2, help="torch threads (default 2)")
    return p


def fcn_parser(prog: str = "python -m deepcolor.fit semantic") -> argparse.ArgumentParser:
    """``deepcolor fit semantic``: its flags are the fields of `deepcolor.train.fcn.FCNConfig` (plus -q, -v)."""
    p = OneLineParser(
        prog=prog, parents=[loudness_flags()],
        description="Train the gray-image semantic FCN on per-pixel labels (CamVid layout, void = 11).",
    )
    from deepcolor.features.semantic import DEFAULT_ARCH, MAX_SIDE
    from deepcolor.train.fcn import CROP

    p.add_argument("--images", required=True, metavar="DIR", help="training images <stem>.jpg")
    p.add_argument("--labels", required=True, metavar="DIR", help="training label maps <stem>.png")
    p.add_argument("--val-images", required=True, metavar="DIR")
    p.add_argument("--val-labels", required=True, metavar="DIR")
    p.add_argument("--test-images", metavar="DIR", help="optional test set, scored once at the end")
    p.add_argument("--test-labels", metavar="DIR")
    p.add_argument("--out", required=True, metavar="FCN", type=new_file, help="output model file (.safetensors)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--crop", type=int, nargs=2, default=list(CROP), metavar=("H", "W"), help="training crop size")
    p.add_argument("--max-side", type=int, default=MAX_SIDE, metavar="PX",
                   help="longest side the net runs at for validation and inference (stored in the model file)")
    p.add_argument("--channels", type=int, nargs=4, metavar="C", help="encoder widths (default %s)" % DEFAULT_ARCH["channels"])
    p.add_argument("--ema", type=float, default=0.99, metavar="DECAY", help="per-step decay of the weight average that is validated and shipped")
    p.add_argument("--class-weights", choices=("none", "median", "sqrt-median"), default="sqrt-median")
    p.add_argument("--checkpoint", metavar="PATH", help="default: OUT + '.ckpt'")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    p.add_argument(
        "--time-budget", type=float, metavar="MIN",
        help="wall-clock budget: the learning rate anneals by the clock as well as by epoch, and training "
        "stops before the epoch that would overrun it (the run is then not bit-reproducible)",
    )
    return p


def global_prior_parser(prog: str = "python -m deepcolor.fit global-prior") -> argparse.ArgumentParser:
    """``deepcolor fit global-prior``: the encoder-based CNN (`deepcolor.train.prior_encoder`), or the
    from-scratch one (``--architecture scratch``, `deepcolor.train.global_prior`)."""
    p = OneLineParser(prog=prog, parents=[loudness_flags()],
                description="Train the global-prior CNN (Iizuka et al. 2016) on colour photographs: by default on the "
                            "frozen ImageNet encoder with a regression and a chroma-class head.")
    p.add_argument("--images", nargs="+", required=True, metavar="DIR_OR_LIST", help="training folders or manifests (.txt)")
    p.add_argument("--out", required=True, metavar="MODEL", type=new_file, help="output model file (.safetensors)")
    p.add_argument("--architecture", choices=("encoder", "scratch"), default="encoder",
                   help="encoder: the pretrained encoder, frozen, its outputs cached (default); scratch: the earlier "
                        "from-scratch network (the flags marked 'scratch')")
    p.add_argument("--time-budget", type=float, default=25.0, help="minutes of training steps (caching and decoding not counted)")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=count_or_all, default=2, help="torch threads (0: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", metavar="CKPT", help="checkpoint file (default: MODEL.ckpt)")
    p.add_argument("--cache", metavar="DIR", help="cache folder: encoder outputs / decoded photos (default: MODEL.work)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    enc = p.add_argument_group("encoder architecture")
    enc.add_argument("--working-size", type=positive_int, default=256, help="short side the network runs at, in pixels")
    enc.add_argument("--grid", type=float, default=0.04, help="chroma bin size in BT.601 U, V")
    enc.add_argument("--min-count", type=positive_int, default=20, help="keep the bins with at least this many training pixels")
    enc.add_argument("--lambda", dest="lam", type=float, default=0.5, help="class rebalancing: mixing of the bin prior with uniform")
    enc.add_argument("--temperature", type=float, default=0.38, help="annealed-mean temperature of vividness 1")
    enc.add_argument("--class-weight", type=float, default=0.002, help="weight of the class head's cross-entropy (MSE weighs 1)")
    enc.add_argument("--scene-weight", type=float, default=0.001, help="weight of the scene head's cross-entropy")
    old = p.add_argument_group("scratch architecture")
    old.add_argument("--val-images", nargs="*", default=[], metavar="DIR_OR_LIST", help="scratch: validation PSNR each epoch")
    old.add_argument("--max-val-images", type=count_or_all, default=64, help="scratch: validate on this many (0: all)")
    old.add_argument("--width", type=float, default=0.25, help="scratch: channel multiplier (1 = the paper)")
    old.add_argument("--labels", choices=("real", "gist", "none"), default="gist", help="scratch: scene labels")
    old.add_argument("--gist-classes", type=positive_int, default=24, help="scratch: k of the gist k-means (--labels gist)")
    old.add_argument("--alpha", type=float, default=1.0 / 300.0, help="scratch: weight of the scene loss")
    old.add_argument("--epochs", type=positive_int, default=1000, help="scratch: at most this many epochs")
    return p
