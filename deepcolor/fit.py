"""``deepcolor fit KIND`` (``python -m deepcolor.fit [KIND]``): train a model; the registry names each kind's trainer.

Without a kind, ``python -m deepcolor.fit --images ...`` trains Cheng's colorizer (`DEFAULT_TRAINER`), as it always
did: the default method (``both``) has no trainer of its own, its parts are trained one by one.

Parsers live in `deepcolor.cli.parsers`; the fitting in `deepcolor.train`.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from deepcolor.cli.parsers import fcn_parser, fit_parser, global_prior_parser, scene_parser
from deepcolor.cli.runtime import (
    EXIT_USAGE,
    CommandError,
    engine_options,
    parse_args,
    passive_openmp,
    report_failures,
    resolve_device_flag,
    run_command,
    run_main,
    setup_logging,
)

logger = logging.getLogger("deepcolor")
DEFAULT_TRAINER = "cheng"  # what `python -m deepcolor.fit` without a kind trains


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m deepcolor.fit") -> int:
    """Entry point: ``fit NAME ARGS...`` runs the trainer the registry names for NAME (a model kind's entry, or a
    network, `deepcolor.models.registry.trainer`); without a name, Cheng's. Returns the exit status (0 done,
    1 some images failed, 2 bad arguments or setup)."""
    from deepcolor.models.registry import trainer, trainer_names

    passive_openmp()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in trainer_names():
        name, argv, prog = argv[0], argv[1:], f"{prog} {argv[0]}"
    else:  # python -m deepcolor.fit --images ...: Cheng's colorizer
        name = DEFAULT_TRAINER

    def body() -> int:  # a trainer of a kind registered at run time gets the command contract too
        try:
            return trainer(name)(argv, prog)
        except SystemExit as exc:  # its own argparse: --help (0) or a bad flag (2, said in one line)
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE

    return run_command(f"deepcolor.fit {name}", body)


def fit_cheng(argv: list[str], prog: str) -> int:
    """``deepcolor fit cheng``: Cheng's colorizer (`deepcolor.train.cheng`), the cheng entry's trainer."""
    return run_main(fit_parser(prog), argv, "deepcolor.fit", lambda args: _fit(args, argv))


def fit_semantic(argv: list[str], prog: str) -> int:
    """``deepcolor fit semantic``: the 11-class CamVid FCN (`deepcolor.train.fcn`)."""
    args = parse_args(fcn_parser(prog), argv)
    if isinstance(args, int):
        return args
    quiet, verbose = args.quiet, args.verbose
    del args.quiet, args.verbose  # the loudness flags are not FCNConfig fields
    if not logging.getLogger().handlers:  # the trainer's log lines carry the time
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    setup_logging(quiet, verbose)

    def body() -> int:
        from deepcolor.train.fcn import FCNConfig, train_fcn

        _check_checkpoint(args.checkpoint)
        fields = {k: v for k, v in vars(args).items()}
        fields["crop"] = tuple(fields["crop"])
        command = "python -m deepcolor.fit semantic " + " ".join(shlex.quote(a) for a in argv)
        train_fcn(FCNConfig(**fields, command=command))
        return 0

    return run_command("deepcolor.fit semantic", body, resume_hint="rerun with --resume to continue from the last checkpoint")


def fit_global_prior(argv: list[str], prog: str) -> int:
    """``deepcolor fit global-prior``: the global-prior CNN (`deepcolor.train.prior_encoder`, `deepcolor.train.global_prior`)."""

    def body(args: argparse.Namespace) -> int:
        import torch

        from deepcolor.io.paths import expand_inputs

        if args.threads:
            torch.set_num_threads(args.threads)
        out = Path(args.out)
        if not out.parent.is_dir():
            raise CommandError(f"output folder {out.parent} does not exist")
        command = "python -m deepcolor.fit global-prior " + " ".join(shlex.quote(a) for a in argv)
        _check_checkpoint(args.checkpoint)
        checkpoint = Path(args.checkpoint) if args.checkpoint else out.with_name(out.name + ".ckpt")
        cache = Path(args.cache) if args.cache else out.with_name(out.name + ".work")
        t_start = time.perf_counter()
        if args.architecture == "encoder":
            from deepcolor.train.prior_encoder import EncoderPriorConfig, train_encoder

            config = EncoderPriorConfig(
                images=expand_inputs(args.images), cache=cache, grid=args.grid, min_count=args.min_count, lam=args.lam,
                temperature=args.temperature, class_weight=args.class_weight, scene_weight=args.scene_weight,
                working_size=args.working_size, batch_size=args.batch_size, lr=args.lr, time_budget=args.time_budget,
                seed=args.seed, checkpoint=checkpoint, resume=args.resume, progress=not args.quiet, command=command,
            )
            model, report = train_encoder(config)
        else:
            from deepcolor.train.global_prior import GlobalPriorConfig, spread, train

            config = GlobalPriorConfig(
                images=expand_inputs(args.images), val_images=spread(expand_inputs(args.val_images), args.max_val_images),
                width=args.width, labels=args.labels, gist_classes=args.gist_classes, alpha=args.alpha, batch_size=args.batch_size,
                lr=args.lr, epochs=args.epochs, time_budget=args.time_budget, seed=args.seed, checkpoint=checkpoint,
                resume=args.resume, cache=cache, progress=not args.quiet, command=command,
            )
            model, report = train(config)
        model.save(out)
        logger.info("wrote %s (%d parameters trained, %.1f MB) after %.1f min", out, model.config["training"]["parameters"],
                    out.stat().st_size / 1e6, (time.perf_counter() - t_start) / 60)
        return report_failures("deepcolor.fit global-prior", report["failed"])

    return run_main(global_prior_parser(prog), argv, "deepcolor.fit global-prior", body,
                    resume_hint="rerun with --resume to continue from the last checkpoint")


def fit_scene(argv: list[str], prog: str) -> int:
    """``deepcolor fit scene``: the 24-class general-scene FCN (`deepcolor.train.scene_fcn`)."""

    def body(args: argparse.Namespace) -> int:
        import json

        import torch

        from deepcolor.features.scene import save_scene_fcn
        from deepcolor.io.write import atomic_write_bytes
        from deepcolor.train.scene_fcn import check_labelled, test_scores, train_scene_fcn

        for manifest in args.train + args.select + args.test:
            if not Path(manifest).is_file():
                raise CommandError(f"manifest not found: {manifest}")
        _check_checkpoint(args.checkpoint)
        check_labelled(args.train, "--train")  # one line before any work, not a failure after the caching
        check_labelled(args.select, "--select")
        torch.set_num_threads(args.threads)
        t0 = time.perf_counter()
        model, info = train_scene_fcn(args.train, args.select, time_budget=args.time_budget, width=args.width,
                                      checkpoint=Path(args.checkpoint) if args.checkpoint else None)
        info["train_seconds"] = round(time.perf_counter() - t0)
        info["command"] = "python -m deepcolor.fit scene " + " ".join(shlex.quote(a) for a in argv)
        save_scene_fcn(model, args.out, extra={"training": {k: v for k, v in info.items() if k != "history"}})
        results = {"training": info, **test_scores(model, args.test)}
        atomic_write_bytes(Path(args.out).with_suffix(".json"), (json.dumps(results, indent=1) + "\n").encode())
        return 0

    return run_main(scene_parser(prog), argv, "deepcolor.fit scene", body)


def _check_checkpoint(checkpoint: str | None) -> None:
    """A ``--checkpoint`` whose folder is missing (or that is a folder) is refused before any work."""
    if checkpoint is None:
        return
    path = Path(checkpoint)
    if path.is_dir():
        raise CommandError(f"--checkpoint {checkpoint}: is a folder; give a file name")
    if not path.parent.is_dir():
        raise CommandError(f"--checkpoint {checkpoint}: folder {path.parent} does not exist")


def _fit(args: argparse.Namespace, argv: Sequence[str]) -> int:
    import torch

    from deepcolor.evaluation import evaluate_paths, settings_grid, summarize_rows
    from deepcolor.train.cheng import fit_model

    if args.threads:
        torch.set_num_threads(args.threads)
    config = _fit_config(args)  # validated: a bad value is one line, before any work
    engine = engine_options(args)
    out = Path(args.out)
    if not out.parent.is_dir():
        raise CommandError(f"output folder {out.parent} does not exist")
    paths, val_paths, missing = _fit_inputs(args)
    device = resolve_device_flag(args)  # after the argument checks: a bad argument is the only line
    fcn = fcn_path = None
    if config.semantic:
        from deepcolor.features.semantic import load_semantic_net
        from deepcolor.modelfile import default_weights_path

        fcn_path = Path(args.fcn) if args.fcn else default_weights_path("fcn")  # Dask workers load it from here
        fcn = load_semantic_net(fcn_path)  # the 11-class FCN or the 24-class scene FCN, by the file's kind
    work = Path(args.work) if args.work else out.with_name(out.name + ".work")
    logger.info("training on %d images, validating on %d; cache in %s", len(paths), len(val_paths), work)
    t0 = time.perf_counter()
    model, failed = fit_model(
        paths, fcn=fcn, config=config, work=work, progress=not args.quiet, card={"command": "python -m deepcolor.fit " + " ".join(argv)},
        calibration_paths=[] if args.no_calibrate else val_paths, device=device, fcn_path=fcn_path, **engine,
    )
    failed = missing + failed
    card = model.card
    card["fit_seconds"] = round(time.perf_counter() - t0, 1)
    if val_paths and not args.no_validation_report:
        rows, val_failed = evaluate_paths(val_paths, model, settings=settings_grid(model), progress=not args.quiet, device=device)
        card["validation"] = {name: summarize_rows(r) for name, r in rows.items()}
        for name, summary in card["validation"].items():
            logger.info("validation %-22s n=%d median PSNR %.2f dB, median gain %+.2f dB", name, summary["n"], summary["psnr_median"], summary["gain_median"])
        failed += val_failed
    model.save(out)
    logger.info("wrote %s (%d clusters) in %.0f s", out, len(model.clusters), card["fit_seconds"])
    return report_failures("deepcolor.fit", failed)


def _fit_config(args: argparse.Namespace):
    """The `FitConfig` of ``fit``'s flags (0 means "all samples" / "Cheng's width" for the two optional sizes)."""
    from deepcolor.train.cheng import FitConfig

    return FitConfig(
        samples_per_image=args.samples_per_image,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        clusters=not args.no_clusters,
        n_top=args.n_top,
        mu=args.mu,
        epsilon=args.epsilon,
        min_cluster_size=args.min_cluster_size,
        max_layers=args.max_layers,
        min_layer_gain=None if args.keep_all_layers else args.min_layer_gain,
        top_k=args.top_k,
        descend=not args.no_descend,
        semantic=not args.no_semantic,
        max_global_samples=args.global_samples,
        cluster_samples_per_image=args.cluster_samples_per_image or None,
        hidden=args.hidden or None,
        plain_clusters=not args.no_plain_clusters,
        colour_tolerance=args.colour_tolerance if args.colour_tolerance >= 0 else None,
        routing=args.routing,
    )


def _fit_inputs(args: argparse.Namespace) -> tuple[list[Path], list[Path], list[tuple[Path, str]]]:
    """``(training images, validation images, listed but unusable inputs)``; CommandError without training images or with overlap."""
    from deepcolor.io.paths import expand_inputs

    missing: list[tuple[Path, str]] = []  # listed but unusable (missing, link loops): skipped and reported
    paths = expand_inputs(args.images, problems=missing)
    if not paths:
        report_failures("deepcolor.fit", missing)
        raise CommandError("no training images found")
    val_paths = expand_inputs(args.val_images, problems=missing)
    if args.max_val_images:
        val_paths = val_paths[: args.max_val_images]
    overlap = {p.resolve() for p in paths} & {p.resolve() for p in val_paths}
    if overlap:
        raise CommandError(f"{len(overlap)} image(s) are both training and validation images, e.g. {sorted(overlap)[0]}")
    return paths, val_paths, missing


if __name__ == "__main__":
    sys.exit(main())
