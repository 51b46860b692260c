"""Train the general-scene FCN (`deepcolor.features.scene`) on gray CamVid and MSRC-21 together.

The encoder (pretrained EfficientNet-Lite0) is frozen, so its stride 4..32 maps of every training
image are computed once and cached (float16) and only the light decoder trains: this fits a 2-core
CPU. Images come from the split manifests (``data/splits``); an image takes part when its label map
exists (``.../images/...jpg`` -> ``.../labels/...png``: CamVid and MSRC-21), its labels mapped into
the merged classes (`CAMVID_TO_SCENE`, `MSRC_TO_SCENE`), void masked from the loss. Selection: the
mean of the CamVid and MSRC class-average accuracies on ``--select``; the best decoder is kept,
checkpointed, and written with the encoder as a float16 model file.

    deepcolor fit scene --train data/splits/train.txt --select data/splits/select.txt \\
        --out deepcolor/weights/v1/scene_fcn.safetensors --time-budget 2400 [--checkpoint C]

(the parser is `deepcolor.cli.parsers.scene_parser`, the command body `deepcolor.fit`).
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from deepcolor.features.encoder import EfficientNetLite0, load_pretrained_encoder, to_encoder_input
from deepcolor.features.scene import CAMVID_TO_SCENE, MSRC_TO_SCENE, SCENE_CLASSES, VOID, SceneDecoder, SceneFCN, scene_probabilities

__all__ = ["labelled_pairs", "check_labelled", "gray_and_labels", "confusion", "accuracies", "evaluate_scene_fcn", "train_scene_fcn", "test_scores"]

logger = logging.getLogger(__name__)

CAMVID_CLASS_NAMES = ("sky", "building", "pole", "road", "pavement", "tree", "sign", "fence", "car", "person", "bicycle")
MSRC_CLASS_NAMES = ("building", "grass", "tree", "cow", "sheep", "sky", "aeroplane", "water", "face", "car", "bicycle",
                    "flower", "sign", "bird", "book", "chair", "road", "cat", "dog", "person", "boat")


def labelled_pairs(manifests: list[str | Path]) -> dict[str, list[tuple[Path, Path]]]:
    """``{"camvid": [(image, label)], "msrc": [...]}``: the manifests' images that have a label map."""
    pairs: dict[str, list[tuple[Path, Path]]] = {"camvid": [], "msrc": []}
    for manifest in manifests:
        manifest = Path(manifest)
        for line in manifest.read_text().splitlines():
            if not line.strip():
                continue
            image = (manifest.parent / line.strip()).resolve()
            dataset = "camvid" if "camvid" in image.parts else "msrc" if "msrc21" in image.parts else None
            if dataset is None:
                continue
            parts = list(image.parts)
            parts[len(parts) - 1 - parts[::-1].index("images")] = "labels"
            label = Path(*parts).with_suffix(".png")
            if label.is_file():
                pairs[dataset].append((image, label))
    return pairs


def gray_and_labels(image: Path, label: Path, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """The protocol's gray input (8-bit rounded BT.601 luma, float32 in [0, 1]) and the merged (H, W) uint8 labels."""
    from PIL import Image

    from deepcolor.evaluation import gray_version
    from deepcolor.train.common import read_colour

    luma, _ = gray_version(read_colour(image))
    with Image.open(label) as im:
        raw = np.asarray(im)
    if raw.shape != luma.shape:
        raise ValueError(f"{label}: label size {raw.shape} differs from image size {luma.shape}")
    return luma, (CAMVID_TO_SCENE if dataset == "camvid" else MSRC_TO_SCENE)[raw]


def confusion(labels: np.ndarray, predicted: np.ndarray, n_classes: int = len(SCENE_CLASSES)) -> np.ndarray:
    """(n, n) int64 confusion counts (rows: true class), void (255) pixels left out."""
    keep = labels != VOID
    return np.bincount(labels[keep].astype(np.int64) * n_classes + predicted[keep], minlength=n_classes**2).reshape(n_classes, n_classes)


def accuracies(conf: np.ndarray, class_names: tuple[str, ...]) -> dict:
    """Global pixel accuracy and class-average accuracy over ``class_names`` (the dataset's own classes, merged names)."""
    rows = [SCENE_CLASSES.index(c) for c in class_names]
    total = conf[rows].sum()
    per_class = {c: float(conf[i, i] / conf[i].sum()) if conf[i].sum() else None for c, i in zip(class_names, rows)}
    present = [v for v in per_class.values() if v is not None]
    return {"pixel_accuracy": float(sum(conf[i, i] for i in rows) / max(total, 1)),
            "class_average_accuracy": float(np.mean(present)) if present else float("nan"), "per_class": per_class, "pixels": int(total)}


def evaluate_scene_fcn(model: SceneFCN, pairs: list[tuple[Path, Path]], dataset: str) -> dict:
    """Accuracy of the whole model (encoder + decoder at full resolution) on gray versions of labelled images."""
    conf = np.zeros((len(SCENE_CLASSES),) * 2, dtype=np.int64)
    for image, label in pairs:
        luma, lab = gray_and_labels(image, label, dataset)
        conf += confusion(lab, scene_probabilities(luma, model).argmax(-1))
    return accuracies(conf, CAMVID_CLASS_NAMES if dataset == "camvid" else MSRC_CLASS_NAMES)


def check_labelled(manifests: list[str | Path], flag: str) -> dict[str, list[tuple[Path, Path]]]:
    """`labelled_pairs` of ``manifests``, or a one-line ValueError (naming ``flag``) when none has a label map."""
    pairs = labelled_pairs(manifests)
    if not any(pairs.values()):
        raise ValueError(f"{flag}: no labelled images in {', '.join(map(str, manifests))} (an image takes part when "
                         "it is a CamVid or MSRC-21 image whose label map exists)")
    return pairs


def _cache(encoder: EfficientNetLite0, pairs: dict[str, list[tuple[Path, Path]]]) -> list[tuple[list[torch.Tensor], torch.Tensor, str]]:
    """Per training image: its four encoder maps (float16), its labels at stride 2 (nearest), its dataset."""
    out = []
    with torch.no_grad():
        for dataset, items in pairs.items():
            for image, label in items:
                luma, lab = gray_and_labels(image, label, dataset)
                maps, _ = encoder(to_encoder_input(luma))
                out.append(([m.half() for m in maps[1:]], torch.from_numpy(np.ascontiguousarray(lab[::2, ::2])).long(), dataset))
    return out


def _class_weights(samples) -> torch.Tensor:
    """Square root of median-frequency balancing over the training pixels (classes never seen: weight 0)."""
    counts = torch.zeros(len(SCENE_CLASSES), dtype=torch.float64)
    for _, lab, _ in samples:
        counts += torch.bincount(lab[lab != VOID].reshape(-1), minlength=len(SCENE_CLASSES))[: len(SCENE_CLASSES)].double()
    freq = counts / counts.sum()
    seen = freq > 0
    w = torch.zeros_like(freq)
    w[seen] = torch.sqrt(freq[seen].median() / freq[seen])
    return w.float()


def _select_score(decoder: SceneDecoder, samples) -> tuple[float, dict]:
    """Mean of the CamVid and MSRC class-average accuracies on cached selection samples (labels at stride 2)."""
    confs = {d: np.zeros((len(SCENE_CLASSES),) * 2, dtype=np.int64) for d in ("camvid", "msrc")}
    decoder.eval()
    with torch.no_grad():
        for maps, lab, dataset in samples:
            logits = F.interpolate(decoder([m.float() for m in maps]), size=lab.shape, mode="bilinear", align_corners=False)
            confs[dataset] += confusion(lab.numpy(), logits[0].argmax(0).numpy())
    decoder.train()
    scores = {"camvid": accuracies(confs["camvid"], CAMVID_CLASS_NAMES)["class_average_accuracy"],
              "msrc": accuracies(confs["msrc"], MSRC_CLASS_NAMES)["class_average_accuracy"]}
    return float(np.nanmean(list(scores.values()))), scores


def train_scene_fcn(train: list[str], select: list[str], *, time_budget: float, width: int = 64, batch: int = 8, lr: float = 2e-3,
                    seed: int = 0, checkpoint: Path | None = None, select_every: int = 150) -> tuple[SceneFCN, dict]:
    """Cache the frozen encoder's maps, train the decoder for ``time_budget`` seconds (cosine lr), keep the best on ``select``."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    train_pairs, select_pairs = check_labelled(train, "--train"), check_labelled(select, "--select")
    encoder = load_pretrained_encoder()
    train_samples = _cache(encoder, train_pairs)
    select_samples = _cache(encoder, select_pairs)
    cache_seconds = time.perf_counter() - t0
    if cache_seconds >= time_budget:  # no time left to train: a decoder of no steps is not a model
        raise ValueError(f"the time budget ({time_budget:g} s) ran out while the encoder maps were cached "
                         f"({cache_seconds:.0f} s); give a longer --time-budget")
    logger.info("cached %d training and %d selection images in %.0f s", len(train_samples), len(select_samples), cache_seconds)
    decoder = SceneDecoder(len(SCENE_CLASSES), width)
    weights = _class_weights(train_samples)
    opt = torch.optim.AdamW(decoder.parameters(), lr=lr, weight_decay=1e-4)
    budget = time_budget - cache_seconds
    start, step, best, history = time.perf_counter(), 0, (-1.0, None, None), []
    while True:
        progress = (time.perf_counter() - start) / budget
        if progress >= 1:
            break
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * progress))
        opt.zero_grad()
        loss_sum = 0.0
        for i in rng.integers(0, len(train_samples), batch):
            maps, lab, _ = train_samples[i]
            flip = bool(rng.integers(2))  # a flipped feature map is close to the map of the flipped image
            maps = [m.float().flip(-1) if flip else m.float() for m in maps]
            logits = F.interpolate(decoder(maps), size=lab.shape, mode="bilinear", align_corners=False)
            loss = F.cross_entropy(logits, (lab.flip(-1) if flip else lab)[None], weight=weights, ignore_index=VOID) / batch
            loss.backward()
            loss_sum += float(loss.detach())
        opt.step()
        step += 1
        last = (time.perf_counter() - start) / budget >= 1  # the decoder at the end of the schedule is scored too
        if step % select_every == 0 or last:
            score, parts = _select_score(decoder, select_samples)
            history.append({"step": step, "seconds": round(time.perf_counter() - t0), "loss": loss_sum, "select": parts})
            logger.info("step %d loss %.3f select class-average camvid %.3f msrc %.3f", step, loss_sum, parts["camvid"], parts["msrc"])
            if score > best[0]:
                best = (score, {k: v.clone() for k, v in decoder.state_dict().items()}, step)
                if checkpoint is not None:
                    torch.save({"decoder": best[1], "step": step, "score": score, "history": history}, checkpoint)
    if best[1] is not None:
        decoder.load_state_dict(best[1])
    info = {"steps": step, "best_step": best[2], "select_score": best[0], "cache_seconds": round(cache_seconds),
            "train_images": len(train_samples), "select_images": len(select_samples), "history": history}
    return SceneFCN(encoder, decoder.eval()), info


def test_scores(model: SceneFCN, manifests: list[str | Path]) -> dict:
    """Pixel and class-average accuracy of ``model`` on the labelled CamVid and MSRC-21 images of ``manifests``, per dataset."""
    results = {}
    for dataset, pairs in labelled_pairs(manifests).items():
        if pairs:
            results[dataset] = evaluate_scene_fcn(model, pairs, dataset)
            logger.info("%s test (%d images): pixel %.3f class-average %.3f", dataset, len(pairs),
                        results[dataset]["pixel_accuracy"], results[dataset]["class_average_accuracy"])
    return results
