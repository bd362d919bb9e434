"""The test tiers and the data lookup (issue 15): `CI` parsing, no machine-specific data path,
and the `real_data` marker enforced on every test that reads the captures."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.conftest import in_ci
from tests.conftest import unmarked_real_data
from tests.support import shared_data


@pytest.mark.parametrize("value", ["true", "TRUE", "1", "yes", "on"])
def test_ci_set_means_ci(value):
    assert in_ci({"CI": value})


@pytest.mark.parametrize("env", [{}, {"CI": ""}, {"CI": "false"}, {"CI": "False"}, {"CI": "0"}, {"CI": "no"}, {"CI": "off"}])
def test_ci_false_or_zero_is_not_ci(env):
    assert not in_ci(env)


def test_data_only_from_the_variable_or_beside_the_project(tmp_path, monkeypatch):
    project = tmp_path / "work" / "project"
    project.mkdir(parents=True)
    monkeypatch.setattr(shared_data, "PROJECT_ROOT", project)
    monkeypatch.delenv("SCALP_SHARED_DATA", raising=False)
    # Neither the variable nor ../shared/data: nothing, wherever this machine keeps its copy.
    assert shared_data.shared_data_dir() is None
    beside = tmp_path / "work" / "shared" / "data"
    (beside / "binance-futures").mkdir(parents=True)
    assert shared_data.shared_data_dir() == beside
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "binance-futures").mkdir(parents=True)
    monkeypatch.setenv("SCALP_SHARED_DATA", str(elsewhere))
    assert shared_data.shared_data_dir() == elsewhere
    # A variable pointing at a folder without the captures falls back to ../shared/data.
    monkeypatch.setenv("SCALP_SHARED_DATA", str(tmp_path))
    assert shared_data.shared_data_dir() == beside


def _item(nodeid: str, fixtures: tuple[str, ...], real_data: bool):
    def marker(name: str) -> object | None:
        return object() if real_data and name == "real_data" else None

    return SimpleNamespace(nodeid=nodeid, fixturenames=fixtures, get_closest_marker=marker)


def test_a_test_reading_the_captures_must_be_marked_real_data():
    items = [
        _item("t::marked", ("shared_data",), True),
        _item("t::unmarked", ("tmp_path", "shared_data"), False),
        _item("t::synthetic", ("tmp_path",), False),
    ]
    assert unmarked_real_data(items) == ["t::unmarked"]


def test_this_suite_marks_every_real_data_test(request):
    assert unmarked_real_data(request.session.items) == []
