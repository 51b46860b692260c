"""Shared fixtures: real photographs from ../shared/data when present."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data_or_skip() -> Path:
    """Path of ../shared/data, or skip the calling test with the reason."""
    if not (SHARED_DATA / "camvid").is_dir() or not (SHARED_DATA / "bsds500").is_dir():
        pytest.skip(f"needs the shared datasets at {SHARED_DATA} (present in CI, absent on a fresh clone)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return shared_data_or_skip()
