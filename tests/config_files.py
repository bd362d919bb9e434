"""Copies of the shipped YAML configs with changes, for tests that go through the config files."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _apply(cfg: dict, changes: dict) -> dict:
    for dotted, value in changes.items():
        node = cfg
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return cfg


def write_config(tmp_path: Path, strategy: dict | None = None, base: str = "backtest.yaml", **changes) -> Path:
    """configs/`base` (backtest.yaml) with dotted `changes`, and configs/strategy.yaml with the dotted
    `strategy` changes beside it (where the backtest config's `strategy.config_file` finds it)."""
    cfg = _apply(yaml.safe_load((ROOT / "configs" / base).read_text()), changes)
    strat = _apply(yaml.safe_load((ROOT / "configs" / "strategy.yaml").read_text()), strategy or {})
    (tmp_path / "strategy.yaml").write_text(yaml.safe_dump(strat))
    path = tmp_path / "backtest.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path
