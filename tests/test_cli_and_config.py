"""The command line and the YAML config checks, end to end through a real BacktestNode."""

from __future__ import annotations

import shutil

import msgspec
import pytest

from nautilus_trader.config import StrategyConfig

from scalp_nautilus.backtest.settings import BacktestSettings
from scalp_nautilus.backtest.settings import load_backtest_settings
from scalp_nautilus.cli import main
from scalp_nautilus.config import ConfigError
from scalp_nautilus.config import load_yaml
from scalp_nautilus.strategy import ScalpStrategyConfig
from tests.config_files import ROOT
from tests.config_files import write_config


def test_shipped_configs_are_valid_and_complete():
    settings = load_backtest_settings(ROOT / "configs" / "backtest.yaml")
    assert settings.instrument_id == "BTCUSDT-PERP.SIM" and settings.venue.name == "SIM"
    assert settings.strategy.path == "scalp_nautilus.strategy:ScalpStrategy"
    # strategy.yaml lists every field of ScalpStrategyConfig (Nautilus's own aside) at its default,
    # except the two instrument calibrations, which have none
    raw = load_yaml(ROOT / "configs" / "strategy.yaml", dict)
    ours = set(ScalpStrategyConfig.__struct_fields__) - set(StrategyConfig.__struct_fields__) - {"instrument_id"}
    assert set(raw) == ours
    config = ScalpStrategyConfig.parse(msgspec.json.encode({**raw, "instrument_id": "X.Y"}))
    for f in msgspec.structs.fields(ScalpStrategyConfig):
        if f.name not in ours:
            continue
        value = getattr(config, f.name)
        if not isinstance(value, msgspec.Struct):
            assert value == f.default, f.name
            continue
        fields = msgspec.structs.fields(type(value))
        assert set(raw[f.name]) == {g.name for g in fields}, f.name
        required = {g.name: getattr(value, g.name) for g in fields if g.required}
        assert value == type(value)(**required), f.name


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
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_yaml(bad, BacktestSettings)
    with pytest.raises(ConfigError, match="no such config file"):
        load_yaml(tmp_path / "nope.yaml", BacktestSettings)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"vpin.windw_minutes": 2.0}, r"unknown key `vpin.windw_minutes` \(did you mean `window_minutes`\?\)"),
        ({"orders.base_size": "0.05"}, r"key `orders.base_size`: expected `float`, got `str`"),
        ({"exits.stop_k": -2.0}, r"key `exits.stop_k`: expected `float` > 0.0"),
        ({"vpin.thresholds": [-0.1, 0.5, 0.7]}, r"key `vpin.thresholds\[0\]`: expected `float` >= 0.0"),
        ({"ensemble.gate_members": "some"}, r"key `ensemble.gate_members`: invalid enum value 'some'"),
    ],
)
def test_strategy_config_errors_name_file_and_key_before_the_run(tmp_path, capsys, change, message):
    reports = tmp_path / "reports"
    config = write_config(tmp_path, strategy=change, catalog=str(tmp_path / "cat"), reports_dir=str(reports))
    with pytest.raises(ConfigError, match=message) as err:
        load_backtest_settings(config)
    assert str(tmp_path / "strategy.yaml") in str(err.value)
    assert main(["backtest", "--config", str(config)]) == 1  # stops before any data or report
    assert "strategy.yaml" in capsys.readouterr().err
    assert not reports.exists() and not (tmp_path / "cat").exists()


def test_strategy_overrides_in_the_backtest_config_are_checked_too(tmp_path):
    config = write_config(tmp_path, **{"strategy.config": {"signals": {"dead_zone_hgh": 0.6}}})
    with pytest.raises(ConfigError, match=r"unknown key `signals.dead_zone_hgh` \(did you mean `dead_zone_high`\?\)") as err:
        load_backtest_settings(config)
    assert f"{config} (strategy.config) merged over" in str(err.value)
    config = write_config(tmp_path, **{"strategy.config": {"signals": {"dead_zone_high": 0.4}}})
    with pytest.raises(ConfigError, match=r"need dead_zone_low <= dead_zone_high, got 0.45 > 0.4"):
        load_backtest_settings(config)
    merged = load_backtest_settings(write_config(tmp_path, **{"strategy.config": {"vpin": {"window_minutes": 2}}}))
    assert merged.strategy.config["vpin"] == {**load_yaml(ROOT / "configs" / "strategy.yaml", dict)["vpin"], "window_minutes": 2}


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
@pytest.mark.slow
def test_import_binance_cli_refuses_overlaps(capture_paths, tmp_path, capsys):
    """(The backtest of an imported capture is in test_backtest_e2e.)"""
    catalog = tmp_path / "cat"
    assert main(["data", "import-binance", *map(str, capture_paths("usdm_2024_08")), "--catalog", str(catalog)]) == 0
    out = capsys.readouterr().out
    assert "sequence gaps 0" in out and "BTCUSDT-PERP.BINANCE" in out
    # importing the same capture again is refused, --replace overwrites
    assert main(["data", "import-binance", *map(str, capture_paths("usdm_2024_08")), "--catalog", str(catalog)]) == 1
    assert "--replace" in capsys.readouterr().err
    assert main(["data", "import-binance", *map(str, capture_paths("usdm_2024_08")), "--catalog", str(catalog), "--replace"]) == 0


def test_default_catalog_is_simulated_when_empty(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    assert main(["backtest"]) == 0
    assert (tmp_path / "catalog" / "data").is_dir()
    out = capsys.readouterr().out
    assert "BTCUSDT-PERP.SIM" in out and "round trips" in out
    assert (tmp_path / "reports" / "summary.txt").read_text().strip() == out.strip()


def test_the_simulated_venue_follows_the_instrument(tmp_path):
    """Issue 15, defect 1: `--instrument ETHUSDT-PERP.BINANCE` with the default config used to keep
    `venue.name: SIM`, and Nautilus refused the run ("Venue 'BINANCE' ... does not have a
    BacktestVenueConfig")."""
    shipped = ROOT / "configs" / "backtest.yaml"
    for iid, venue in (("ETHUSDT-PERP.BINANCE", "BINANCE"), ("BTCUSDT-PERP.SIM", "SIM"), ("BTCUSDT-LINEAR.BYBIT", "BYBIT")):
        assert load_backtest_settings(shipped, {"instrument_id": iid}).venue.name == venue
    # A venue named in the file must be the instrument's: the error says what to change.
    config = write_config(tmp_path, **{"venue.name": "SIM"})
    with pytest.raises(ConfigError, match=r"key `venue.name`: 'SIM' is not the venue of ETHUSDT-PERP.BINANCE") as err:
        load_backtest_settings(config, {"instrument_id": "ETHUSDT-PERP.BINANCE"})
    assert str(config) in str(err.value) and "set it to BINANCE or null" in str(err.value)
    assert load_backtest_settings(config).venue.name == "SIM"
