"""Shared fixtures: where the real exchange captures live.

The captures sit in ``../shared/data`` next to the project (never copied into it);
``SCALP_SHARED_DATA`` points elsewhere. Under CI (``CI=true``) a missing data folder fails the
run instead of skipping, so the real-data tests cannot pass by running nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scalp_nautilus.testing.captures import Capture, load
from scalp_nautilus.testing.shared_data import CAPTURES, shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        msg = "real exchange data not found: set SCALP_SHARED_DATA or place it in ../shared/data"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def capture_paths(shared_data):
    def paths(name: str) -> list[Path]:
        return [shared_data / "binance-futures" / f for f in CAPTURES[name]]

    return paths


@pytest.fixture(scope="session", params=list(CAPTURES))
def capture(request, capture_paths) -> Capture:
    """Each real capture in turn, imported once per session."""
    return load(request.param, tuple(capture_paths(request.param)))
