"""Per-output claims: one live holder at a time, stale claims of dead runs taken over."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from deepcolor.io.paths import claim_output, claim_path


def _holder(output, *, hold_s: float) -> subprocess.Popen:
    """Another process that claims `output`, says so on stdout, then sleeps."""
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {os.getcwd()!r})
        from deepcolor.io.paths import claim_output
        with claim_output({str(output)!r}) as mine:
            print("mine" if mine else "taken", flush=True)
            time.sleep({hold_s})
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "mine"
    return proc


@pytest.mark.slow
def test_claim_is_exclusive_and_released(tmp_path):
    """While one process holds a claim another gets False; after the block the claim file is gone."""
    out = tmp_path / "a.jpg"
    holder = _holder(out, hold_s=30)
    try:
        with claim_output(out) as mine:
            assert mine is False
        assert claim_path(out).exists()  # the holder's claim is left alone
    finally:
        holder.kill()
        holder.wait()
    with claim_output(out) as mine:
        assert mine is True
        assert claim_path(out).exists() and claim_path(out).name.startswith(".")
    assert not claim_path(out).exists()


@pytest.mark.slow
def test_stale_claim_of_a_killed_run_is_taken_over(tmp_path):
    """kill -9 leaves the claim file (and a temp file) behind: the next claim succeeds and cleans both."""
    out = tmp_path / "a.png"
    holder = _holder(out, hold_s=60)
    temp = tmp_path / ".a.0123abcd.tmp.png"  # what the atomic writer leaves when killed mid-write
    temp.write_bytes(b"partial")
    unrelated = tmp_path / ".b.0123abcd.tmp.png"
    unrelated.write_bytes(b"someone else's")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert claim_path(out).exists()
    t0 = time.perf_counter()
    with claim_output(out) as mine:
        assert mine is True
        assert not temp.exists() and unrelated.exists()
    assert time.perf_counter() - t0 < 5
    assert not claim_path(out).exists()


def test_claim_in_a_missing_folder_is_a_one_line_error(tmp_path):
    import pytest

    from deepcolor.io import ImageWriteError

    with pytest.raises(ImageWriteError, match="claim"):
        with claim_output(tmp_path / "missing" / "a.jpg"):
            pass


def test_apply_file_reports_what_it_did(tmp_path):
    """apply_file: colorized, then kept; claimed while another holds the output; failed as one line, never raising."""
    import numpy as np
    from PIL import Image

    from deepcolor.apply import ApplyOptions, apply_file
    from deepcolor.pipeline import load_model

    model = load_model()
    src = tmp_path / "g.png"
    Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))).save(src)
    out = tmp_path / "g_out.png"
    first = apply_file(src, out, model)
    assert first.status == "colorized" and out.is_file() and "cluster" in first.info
    assert apply_file(src, out, model).status == "kept"
    with claim_output(tmp_path / "h.png") as mine:
        assert mine
        assert apply_file(src, tmp_path / "h.png", model).status == "claimed"
        assert apply_file(src, tmp_path / "h.png", model, claim=False).status == "colorized"
    bad = apply_file(tmp_path / "missing.png", tmp_path / "m_out.png", model, ApplyOptions(overwrite=True))
    assert bad.status == "failed" and "\n" not in bad.message and "missing.png" in bad.message
