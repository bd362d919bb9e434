"""Shared fixtures: where the real exchange captures live, and the test tiers.

The captures sit in ``../shared/data`` next to the project (never copied into it);
``SCALP_SHARED_DATA`` points elsewhere (`tests.support.shared_data`). Under CI (``CI`` set
to anything but empty, ``0``, ``false``, ``no`` or ``off``) a missing data folder fails the run
instead of skipping, so the real-data tests cannot pass by running nothing.

Tiers: ``real_data`` marks every test that reads the captures (enforced below: a test reaching
the ``shared_data`` fixture without it fails the collection), ``slow`` anything over a few
seconds and the live node and client tests. ``pytest -m "not slow"`` is the quick tier; CI runs
everything.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.support.captures import Capture
from tests.support.captures import load
from tests.support.shared_data import CAPTURES
from tests.support.shared_data import shared_data_dir


def in_ci(environ: Mapping[str, str] = os.environ) -> bool:
    """`CI` as CI services set it (`true`, `1`); `false`, `0`, `no`, `off` or empty mean no."""
    return environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


def missing(what: str) -> None:
    """A tier's requirement is missing: skip and say why, but fail under CI (which provides them all)."""
    if in_ci():
        pytest.fail(what)
    pytest.skip(what)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        missing("real exchange data not found: set SCALP_SHARED_DATA or place it in ../shared/data")
    return path


def unmarked_real_data(items: Iterable[pytest.Item]) -> list[str]:
    """Tests that read the captures (through the `shared_data` fixture) but lack `real_data`."""
    return [
        item.nodeid
        for item in items
        if "shared_data" in getattr(item, "fixturenames", ()) and item.get_closest_marker("real_data") is None
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = unmarked_real_data(items)
    if unmarked:
        raise pytest.UsageError(
            "these tests read the exchange captures but are not marked @pytest.mark.real_data:\n  " + "\n  ".join(unmarked)
        )


@pytest.fixture(scope="session")
def capture_paths(shared_data):
    def paths(name: str) -> list[Path]:
        return [shared_data / "binance-futures" / f for f in CAPTURES[name]]

    return paths


@pytest.fixture(scope="session", params=list(CAPTURES))
def capture(request, capture_paths) -> Capture:
    """Each real capture in turn, imported once per session."""
    return load(request.param, tuple(capture_paths(request.param)))
