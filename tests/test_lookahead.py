"""The look-ahead audit (`research lookahead`) on every shared capture: the features and the
flat-position decisions before each random cut are bit-identical to the full replay's; and a
planted look-ahead (the book snapshot of each batch read from the next batch) is caught."""

from __future__ import annotations

import pytest

from scalp_nautilus.backtest.settings import check_strategy_config
from scalp_nautilus.cli import main
from scalp_nautilus.config import read_yaml
from scalp_nautilus.feature_replay.book import BookTops
from scalp_nautilus.feature_replay.book import ReplayBook
from scalp_nautilus.feature_replay.lookahead import audit
from tests.capture_catalogs import SPOT
from tests.capture_catalogs import capture_catalog  # noqa: F401 (fixture)
from tests.capture_catalogs import strategy_overrides
from tests.support.configs import write_config
from tests.support.shared_data import CAPTURES

CONFIG_PATH = "scalp_nautilus.strategy:ScalpStrategyConfig"


def _config(cat, folder):
    write_config(folder, strategy=strategy_overrides(cat), catalog=str(cat.path), instrument_id=cat.instrument_id)
    path = folder / "strategy.yaml"
    return path, check_strategy_config(read_yaml(path), CONFIG_PATH, cat.instrument_id, str(path))


@pytest.mark.real_data
@pytest.mark.slow
@pytest.mark.parametrize("name", [*CAPTURES, SPOT])
def test_no_lookahead_on_the_shared_captures(name, capture_catalog, tmp_path):  # noqa: F811
    cat = capture_catalog(name)
    _, config = _config(cat, tmp_path)
    result = audit(cat.path, cat.instrument_id, config, cuts=5, seed=11, work_dir=tmp_path)
    print(f"\n{name}:\n" + "\n".join(result.lines()))
    assert result.clean and len(result.cuts) == 5
    assert all(0 < c.rows < result.rows for c in result.cuts)  # each cut left rows on both sides


@pytest.mark.real_data
@pytest.mark.slow
def test_a_planted_lookahead_is_caught(capture_catalog, tmp_path, monkeypatch):  # noqa: F811
    """A feature that reads the next batch: every snapshot is taken of the following batch's book
    (within the replay's record batch). Before a cut the last rows have no next batch, so they
    differ from the full run's, and so do their decisions."""
    cat = capture_catalog("usdm_2024_08")
    _, config = _config(cat, tmp_path)
    honest = ReplayBook.apply

    def peeking(self, batch, where=""):
        tops = honest(self, batch, where)
        for name in BookTops.__slots__[1:]:  # every field but `row`: batch b reads batch b+1's book
            column = getattr(tops, name)
            column[:-1] = column[1:].copy()
        return tops

    monkeypatch.setattr(ReplayBook, "apply", peeking)
    result = audit(cat.path, cat.instrument_id, config, cuts=5, seed=11, work_dir=tmp_path)
    print("\nplanted look-ahead:\n" + "\n".join(result.lines()))
    assert not result.clean
    caught = [c for c in result.cuts if not c.clean]
    assert caught and all(c.first_row is not None and c.first_row >= c.rows - 2 for c in caught)  # at the cut
    assert any("mid" in c.columns for c in caught)


@pytest.mark.real_data
@pytest.mark.slow
def test_lookahead_command(capture_catalog, tmp_path, capsys):  # noqa: F811
    cat = capture_catalog("usdm_2024_08")
    path, _ = _config(cat, tmp_path)
    args = ["research", "lookahead", "--catalog", str(cat.path), "--instrument", cat.instrument_id, "--config", str(path)]
    assert main([*args, "--cuts", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("identical to the full run's") == 2 and "no look-ahead found (2 cuts" in out
    assert main([*args, "--cuts", "0"]) == 1  # a bad value: an error, not a crash
