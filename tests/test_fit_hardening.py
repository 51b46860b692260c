"""Issue 29 in the training commands: every path and number checked before work, clear lines for unusable
data, a budget shorter than the caching, and no non-finite model ever written."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from deepcolor.fit import main as fit_main


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("flag, value", [("--class-weight", "inf"), ("--class-weight", "nan"), ("--scene-weight", "1e999"),
                                         ("--lr", "nan"), ("--temperature", "0"), ("--time-budget", "inf"),
                                         ("--grid", "-0.1")])
def test_fit_global_prior_refuses_non_finite_and_out_of_range_numbers(tmp_path, capsys, flag, value):
    (tmp_path / "photos").mkdir()
    code = fit_main(["global-prior", "--images", str(tmp_path / "photos"), "--out", str(tmp_path / "m.safetensors"),
                     flag, value])
    assert code == 2 and flag in _one_error_line(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


def test_a_model_with_non_finite_weights_is_never_written(tmp_path):
    from deepcolor.modelfile import ModelFileError, save_model_file

    tensors = {"head.weight": np.array([1.0, np.inf], np.float32), "head.bias": np.zeros(2, np.float32)}
    with pytest.raises(ModelFileError, match="not written.*'head.weight'"):
        save_model_file(tmp_path / "m.safetensors", tensors, kind="global_prior", config={})
    assert list(tmp_path.iterdir()) == []


def _labelled_camvid(root):
    """A CamVid-like image with its label map, and a photo without one; their manifests."""
    for sub in ("camvid/images", "camvid/labels", "photos"):
        (root / sub).mkdir(parents=True)
    (root / "camvid/images/a.jpg").write_bytes(b"jpeg")
    (root / "camvid/labels/a.png").write_bytes(b"png")
    (root / "photos/p.jpg").write_bytes(b"jpeg")
    (root / "labelled.txt").write_text("camvid/images/a.jpg\n")
    (root / "unlabelled.txt").write_text("photos/p.jpg\n")
    return root / "labelled.txt", root / "unlabelled.txt"


@pytest.mark.parametrize("case", ["checkpoint", "no-train-labels", "no-select-labels"])
def test_fit_scene_refuses_before_any_work(tmp_path, capsys, monkeypatch, case):
    import deepcolor.train.scene_fcn as scene_fcn

    labelled, unlabelled = _labelled_camvid(tmp_path)
    monkeypatch.setattr(scene_fcn, "load_pretrained_encoder", lambda: pytest.fail("the encoder was loaded"))
    train, select, extra, said = labelled, labelled, [], ""
    if case == "checkpoint":
        extra, said = ["--checkpoint", str(tmp_path / "missing" / "c.ckpt")], "--checkpoint"
    elif case == "no-train-labels":
        train, said = unlabelled, "--train: no labelled images"
    else:
        select, said = unlabelled, "--select: no labelled images"
    code = fit_main(["scene", "--train", str(train), "--select", str(select), "--out", str(tmp_path / "s.safetensors"),
                     "--time-budget", "60", *extra])
    assert code == 2 and said in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "s.safetensors").exists()


def test_fit_scene_ends_when_the_budget_runs_out_during_the_caching(tmp_path, monkeypatch):
    import time

    import deepcolor.train.scene_fcn as scene_fcn

    labelled, _ = _labelled_camvid(tmp_path)
    monkeypatch.setattr(scene_fcn, "load_pretrained_encoder", lambda: time.sleep(0.05))  # caching outlasts the budget
    monkeypatch.setattr(scene_fcn, "_cache", lambda encoder, pairs: [])
    outcome = []

    def train():
        try:
            scene_fcn.train_scene_fcn([str(labelled)], [str(labelled)], time_budget=0.01)
        except ValueError as exc:
            outcome.append(str(exc))

    worker = threading.Thread(target=train, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive() and outcome and "ran out while the encoder maps were cached" in outcome[0]


def test_fit_global_prior_on_gray_photos_is_one_clear_line(tmp_path):
    from deepcolor.train.prior_cache import load_cache

    folder = tmp_path / "encoder_x"
    folder.mkdir()
    np.savez(folder / "shard_00000.npz", paths=np.array([], dtype=str),
             failed=np.array([f"{tmp_path}/g.png\tgray photo: nothing to learn colour from"]))
    with pytest.raises(ValueError, match="none of the 1 training photos can teach colour: g.png: gray photo"):
        load_cache(folder)
