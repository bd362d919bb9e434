"""Copies of the shipped YAML configs with changes, for tests and benchmarks that go through the
config files."""

from __future__ import annotations

from pathlib import Path

import yaml

from scalp_nautilus.config import merge
from scalp_nautilus.config import nest

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, strategy: dict | None = None, base: str = "backtest.yaml", **changes) -> Path:
    """configs/`base` (backtest.yaml) with dotted `changes`, and configs/strategy.yaml with the dotted
    `strategy` changes beside it (where the backtest config's `strategy.config_file` finds it)."""
    cfg = merge(yaml.safe_load((ROOT / "configs" / base).read_text()), nest(changes))
    strat = merge(yaml.safe_load((ROOT / "configs" / "strategy.yaml").read_text()), nest(strategy or {}))
    (tmp_path / "strategy.yaml").write_text(yaml.safe_dump(strat))
    path = tmp_path / "backtest.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path
