"""A semantic network joins by the `SemanticNet` protocol: Cheng's colorizer, its label map and `deepcolor fit`
take a newcomer network without any package file knowing it (no isinstance of the two shipped FCNs)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
import pytest
from skimage import data

import deepcolor
from deepcolor.cli.main import main as deepcolor_main
from deepcolor.colorspace import rgb_to_luma
from deepcolor.features.semantic import semantic_classes, semantic_colours, small_probabilities
from deepcolor.features.semantic_net import SemanticNet
from deepcolor.metrics import to_uint8
from deepcolor.models import registry

N_SCENE = 24  # the shipped Cheng model's MLPs read 24 class maps (the scene FCN's)


class ToyNet:
    """Every pixel equally likely in each of 24 classes; a constant pooled feature. Records its calls."""

    kind: ClassVar[str] = "toy_net"
    writes_legend: ClassVar[bool] = True
    classes = tuple(f"toy{i}" for i in range(N_SCENE))
    colours = np.arange((N_SCENE + 1) * 3, dtype=np.uint8).reshape(N_SCENE + 1, 3)
    max_side = 64
    file_config = None

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def small_and_pooled(self, luma: np.ndarray, *, max_side: int | None = None, xp: Any = np):
        self.calls.append(luma.shape)
        h, w = max(1, luma.shape[0] // 4), max(1, luma.shape[1] // 4)
        return xp.full((h, w, N_SCENE), 1.0 / N_SCENE, xp.float32), np.full(1280, 0.5, np.float32)

    def file_parts(self):
        return {}, {}


def test_a_toy_semantic_network_feeds_cheng_and_its_label_map():
    net = ToyNet()
    assert isinstance(net, SemanticNet)
    shipped = deepcolor.load_model("cheng")
    model = dataclasses.replace(shipped, fcn=net, _arrays=None)
    gray = to_uint8(rgb_to_luma(data.astronaut()[::8, ::8] / 255.0))
    rgb = deepcolor.colorize(gray, model=model, device="cpu")
    assert rgb.shape == gray.shape + (3,) and net.calls  # the colorizer read the toy network's maps
    assert semantic_classes(net) == net.classes and semantic_colours(net) is net.colours
    assert small_probabilities(gray / np.float32(255), net).shape == (16, 16, N_SCENE)
    legend = model.label_legend()
    assert [c["name"] for c in legend] == [*net.classes, "void"] and legend[1]["rgb"] == [3, 4, 5]
    assert model.writes_legend() and model.label_map(gray / np.float32(255)).shape == gray.shape + (3,)


def test_a_network_trainer_registered_at_run_time_is_run_by_fit(tmp_path, monkeypatch):
    trained: list[list[str]] = []

    def fit_toy_net(argv: list[str], prog: str) -> int:
        trained.append(argv)
        return 0

    monkeypatch.setitem(registry.NETWORK_TRAINERS, "toy-net", fit_toy_net)
    assert deepcolor_main(["fit", "toy-net", "--epochs", "1"]) == 0
    assert trained == [["--epochs", "1"]]
    with pytest.raises(ValueError, match="nothing to train called 'nope'"):
        registry.trainer("nope")
