"""The command line and the YAML config checks, end to end through a real BacktestNode."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from scalp_nautilus.backtest.settings import BacktestSettings
from scalp_nautilus.cli import main
from scalp_nautilus.config import ConfigError
from scalp_nautilus.config import load_yaml

ROOT = Path(__file__).resolve().parents[1]


def write_config(tmp_path: Path, **changes) -> Path:
    cfg = yaml.safe_load((ROOT / "configs" / "backtest.yaml").read_text())
    for dotted, value in changes.items():
        node = cfg
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    path = tmp_path / "backtest.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_shipped_config_is_valid():
    settings = load_yaml(ROOT / "configs" / "backtest.yaml", BacktestSettings)
    assert settings.instrument_id == "BTCUSDT-PERP.SIM" and settings.venue.name == "SIM"


@pytest.mark.parametrize(
    "change,message",
    [
        ({"venue.latency.bse_ms": 1.0}, r"unknown key `venue.latency.bse_ms` \(did you mean `base_ms`\?\)"),
        ({"venue.default_leverage": "ten"}, r"key `venue.default_leverage`: expected `float`, got `str`"),
        ({"venue.fill.prob_slippage": -0.1}, r"key `venue.fill.prob_slippage`: expected `float` >= 0.0"),
        ({"chunk_size": 0}, r"key `chunk_size`: expected `int` >= 1"),
        ({"venue.oms_type": "NETTTING"}, r"key `venue.oms_type`: invalid enum value 'NETTTING'"),
    ],
)
def test_config_errors_name_file_and_key(tmp_path, change, message):
    path = write_config(tmp_path, **change)
    with pytest.raises(ConfigError, match=message) as err:
        load_yaml(path, BacktestSettings)
    assert str(path) in str(err.value)


def test_malformed_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("venue: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_yaml(bad, BacktestSettings)
    with pytest.raises(ConfigError, match="no such config file"):
        load_yaml(tmp_path / "nope.yaml", BacktestSettings)


def test_simulate_then_backtest_through_the_cli(tmp_path, capsys):
    catalog = tmp_path / "cat"
    assert main(["data", "simulate", "--catalog", str(catalog), "--minutes", "10"]) == 0
    assert "SYNTHETIC" in capsys.readouterr().out
    assert main(["data", "list", "--catalog", str(catalog)]) == 0
    assert "BTCUSDT-PERP.SIM" in capsys.readouterr().out
    reports = tmp_path / "reports"
    config = write_config(tmp_path, catalog=str(catalog), reports_dir=str(reports))
    assert main(["backtest", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "BTCUSDT-PERP.SIM" in out
    fills = pd.read_csv(reports / "fills.csv")
    assert len(fills) > 0 and set(fills["side"]) <= {"BUY", "SELL"}
    assert (reports / "positions.csv").exists() and (reports / "account.csv").exists()


def test_backtest_errors_are_clear(tmp_path, capsys):
    config = write_config(tmp_path, catalog=str(tmp_path / "missing"))
    assert main(["backtest", "--config", str(config)]) == 1
    assert "no catalog at" in capsys.readouterr().err
    catalog = tmp_path / "cat"
    main(["data", "simulate", "--catalog", str(catalog), "--minutes", "1"])
    config = write_config(tmp_path, catalog=str(catalog), instrument_id="ETHUSDT-PERP.BINANCE")
    assert main(["backtest", "--config", str(config)]) == 1
    assert "ETHUSDT-PERP.BINANCE is not in the catalog" in capsys.readouterr().err
    config = write_config(tmp_path, catalog=str(catalog), **{"venue.starting_balances": ["1 BTC"]})
    assert main(["backtest", "--config", str(config)]) == 1
    assert "settlement currency" in capsys.readouterr().err


@pytest.mark.real_data
def test_import_binance_cli_and_backtest_on_real_capture(capture_paths, tmp_path, capsys):
    catalog = tmp_path / "cat"
    assert main(["data", "import-binance", *map(str, capture_paths("usdm_2024_08")), "--catalog", str(catalog)]) == 0
    out = capsys.readouterr().out
    assert "sequence gaps 0" in out and "BTCUSDT-PERP.BINANCE" in out
    # importing the same capture again is refused, --replace overwrites
    assert main(["data", "import-binance", *map(str, capture_paths("usdm_2024_08")), "--catalog", str(catalog)]) == 1
    assert "--replace" in capsys.readouterr().err
    assert main(["data", "import-binance", *map(str, capture_paths("usdm_2024_08")), "--catalog", str(catalog), "--replace"]) == 0
    capsys.readouterr()
    config = write_config(
        tmp_path, catalog=str(catalog), instrument_id="BTCUSDT-PERP.BINANCE", reports_dir=str(tmp_path / "rep"),
        **{"venue.name": "BINANCE"},
    )
    assert main(["backtest", "--config", str(config)]) == 0
    assert len(pd.read_csv(tmp_path / "rep" / "fills.csv")) > 0


def test_default_catalog_is_simulated_when_empty(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    assert main(["backtest"]) == 0
    assert (tmp_path / "catalog" / "data").is_dir()
    assert "BTCUSDT-PERP.SIM" in capsys.readouterr().out
