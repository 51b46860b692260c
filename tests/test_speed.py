"""Thread settings set once (deepcolor.threads) and ``deepcolor colorize --profile`` (deepcolor.profile)."""

from __future__ import annotations

import os

import numpy as np
import pytest


def test_thread_count_follows_omp_num_threads_else_the_cpus(monkeypatch):
    from deepcolor.threads import thread_count

    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert thread_count() == 3
    for bad in ("0", "two", ""):
        monkeypatch.setenv("OMP_NUM_THREADS", bad)
        assert thread_count() == len(os.sched_getaffinity(0))


def test_import_deepcolor_asks_for_passive_openmp_waits_unless_told_otherwise():
    import subprocess
    import sys

    code = "import os, deepcolor; print(os.environ.get('OMP_WAIT_POLICY'))"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip() == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip() == "ACTIVE"


def test_profile_of_one_call_names_the_models_stages():
    from deepcolor.colorizer import Colorizer
    from deepcolor.pipeline import load_model
    from deepcolor.profile import format_profile, profile_colorization

    luma = np.tile(np.linspace(0.1, 0.9, 40, dtype=np.float32), (30, 1))
    stages = profile_colorization(luma, Colorizer(load_model("cheng"), device="cpu"))
    assert list(stages)[-2:] == ["other", "total"]
    assert {"choice", "features", "regression", "upsampling", "refinement"} <= set(stages)
    assert all(s >= 0 for s in stages.values()) and stages["total"] >= sum(v for k, v in stages.items() if k != "total") - 1e-6
    text = format_profile(stages, title="profile")
    assert text.splitlines()[0] == "profile" and "regression" in text and text.splitlines()[-1].lstrip().startswith("total")


@pytest.mark.parametrize("dense", [False, True])
def test_colorize_profile_flag_prints_the_stages_on_stderr(tmp_path, capsys, dense):
    from deepcolor.apply import main
    from deepcolor.io import write_image

    gray = tmp_path / "gray.png"
    write_image(gray, np.tile(np.linspace(0.1, 0.9, 33, dtype=np.float32), (25, 1)), bit_depth=8)
    out = tmp_path / "out.png"
    assert main([str(gray), "-o", str(out), "-q", "--profile", "--method", "cheng", *(["--dense"] if dense else [])]) == 0
    assert out.is_file()
    err = capsys.readouterr().err
    assert "profile of one call" in err and "gray.png (33x25, cheng" in err
    assert ("upsampling" in err) is not dense  # the grid's stage; --dense predicts every pixel
    assert "regression" in err and "total" in err
