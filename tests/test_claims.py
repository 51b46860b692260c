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


def _writer_killed_mid_write(output) -> str:
    """Another process claims `output`, creates the atomic writer's temp file, prints its name, and is killed."""
    code = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {os.getcwd()!r})
        from deepcolor.io.paths import claim_output
        from deepcolor.io.write import atomic_open
        with claim_output({str(output)!r}) as mine:
            with atomic_open({str(output)!r}) as fh:
                fh.write(b"partial")
                fh.flush()
                print([n for n in os.listdir({str(output.parent)!r}) if n.endswith(".tmp.png")][0], flush=True)
                time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    name = proc.stdout.readline().strip()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return name


@pytest.mark.slow
def test_stale_claim_of_a_killed_run_is_taken_over(tmp_path):
    """kill -9 mid-write leaves the claim and its temp: the next claim succeeds and removes exactly that temp."""
    out = tmp_path / "a.png"
    temp = tmp_path / _writer_killed_mid_write(out)
    assert temp.name.startswith(".a.") and temp.read_bytes() == b"partial"
    lookalike = tmp_path / ".a.0123abcd.tmp.png"  # same pattern, but no claim recorded it: not ours
    lookalike.write_bytes(b"someone else's")
    assert claim_path(out).exists()
    t0 = time.perf_counter()
    with claim_output(out) as mine:
        assert mine is True
        assert not temp.exists() and lookalike.read_bytes() == b"someone else's"
    assert time.perf_counter() - t0 < 5
    assert not claim_path(out).exists()


def test_users_own_claim_and_temp_named_files_are_never_removed(tmp_path):
    """A hidden .NAME.claim without deepcolor's marker stops that output with one line; it and a .NAME.<hex>.tmp file stay."""
    import pytest

    from deepcolor.io import ImageWriteError

    out = tmp_path / "x_colorized.jpg"
    users_claim = claim_path(out)
    users_claim.write_bytes(b"my notes\n")
    users_temp = tmp_path / ".x_colorized.deadbeef.tmp.jpg"
    users_temp.write_bytes(b"my draft")
    with pytest.raises(ImageWriteError, match="not made by deepcolor"):
        with claim_output(out):
            pass
    assert users_claim.read_bytes() == b"my notes\n"
    users_claim.unlink()
    with claim_output(out) as mine:
        assert mine
    assert users_temp.read_bytes() == b"my draft"


def test_claim_and_temp_names_fit_wherever_the_output_name_fits(tmp_path):
    """A 255-byte output name (ASCII and multi-byte) gets a claim and a temp file; the claim name is stable."""
    from deepcolor.io.write import atomic_write_bytes

    for name in ("n" * 251 + ".jpg", "é" * 125 + "a.png"):
        out = tmp_path / name
        assert len(os.fsencode(out.name)) == 255
        assert len(os.fsencode(claim_path(out).name)) <= 255 and claim_path(out) == claim_path(out)
        with claim_output(out) as mine:
            assert mine and claim_path(out).exists()
            atomic_write_bytes(out, b"data")
        assert out.read_bytes() == b"data"
    assert sorted(n for n in os.listdir(tmp_path) if n.startswith(".")) == []


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

    model = load_model("cheng")
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
