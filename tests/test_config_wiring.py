"""Every indicator setting of `ScalpStrategyConfig` reaches the constructor parameter it is meant for
(issue 15, defect 2: `build_pipeline` passed 12 and 7 positional arguments, and
`regime.spread_factors` / `regime.depth_factors` share a default, so swapping them passed every
test).

The oracle is the table below, written from the parameter names: config field -> (pipeline
member, constructor parameter, value). Each field in turn gets a value other than its default; the
constructors are replaced by recorders that bind their arguments by name, and the bound arguments
of every indicator must equal those of the default config with exactly that one parameter changed.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from scalp_nautilus.data.simulator import SIM_SPEC
from scalp_nautilus.strategy import ScalpStrategyConfig
from scalp_nautilus.strategy import settings as config_module

S = 1_000_000_000
MEMBERS = {
    "vpin": "VPIN",
    "classifier": "LeeReadyClassifier",
    "ofi": "OrderFlowImbalance",
    "cvd": "CumulativeVolumeDelta",
    "regime": "MicrostructureRegime",
    "liquidity": "LiquidityMetrics",
    "hurst": "HurstExponent",
    "ou": "OUZScore",
    "parkinson": "ParkinsonVolatility",
    "lob": "LOBFeatureVector",
    "funding": "FundingArbDetector",
    "lstm": "LSTMPredictor",
    "ensemble": "SignalEnsemble",
}


def same(section: str, field: str) -> tuple[str, str, Callable]:
    return section, field, lambda c: getattr(getattr(c, section), field)


def seconds_to_ns(section: str, field: str, param: str) -> tuple[str, str, Callable]:
    return section, param, lambda c: round(getattr(getattr(c, section), field) * S)


# (config section, field) -> (pipeline member, parameter, expected value from the config)
WIRING: dict[tuple[str, str], tuple[str, str, Callable]] = {
    ("vpin", "volume_per_hour"): ("vpin", "window_volume", lambda c: c.vpin.volume_per_hour * c.vpin.window_minutes / 60),
    ("vpin", "window_minutes"): ("vpin", "window_volume", lambda c: c.vpin.volume_per_hour * c.vpin.window_minutes / 60),
    **{
        ("vpin", f): same("vpin", f)
        for f in (
            "n_buckets",
            "thresholds",
            "multipliers",
            "threshold_mode",
            "threshold_quantiles",
            "quantile_history",
            "quantile_min",
        )
    },
    **{("classifier", f): same("classifier", f) for f in ("ignore_venue", "tick_share_warning")},
    **{("ofi", f): same("ofi", f) for f in ("levels", "zscore_window")},
    ("cvd", "bucket_s"): seconds_to_ns("cvd", "bucket_s", "bucket_ns"),
    **{("cvd", f): same("cvd", f) for f in ("window", "zscore_window")},
    **{
        ("regime", f): same("regime", f)
        for f in (
            "spread_tight_bps",
            "spread_wide_bps",
            "depth_thick",
            "depth_thin",
            "activity_active",
            "activity_quiet",
            "spread_factors",
            "depth_factors",
            "activity_factors",
            "min_multiplier",
            "max_multiplier",
            "threshold_mode",
            "quantiles",
            "quantile_history",
            "quantile_min",
        )
    },
    ("regime", "quantile_sample_s"): seconds_to_ns("regime", "quantile_sample_s", "quantile_sample_ns"),
    ("regime", "activity_window_s"): seconds_to_ns("regime", "activity_window_s", "activity_window_ns"),
    **{
        ("liquidity", f): same("liquidity", f)
        for f in ("levels", "slippage_size", "ewma_alpha", "shock_ratio", "lambda_window", "lambda_min_points")
    },
    **{("hurst", f): same("hurst", f) for f in ("window", "anis_lloyd")},
    ("hurst", "sample_s"): seconds_to_ns("hurst", "sample_s", "sample_ns"),
    **{("ou", f): same("ou", f) for f in ("window", "min_points", "refit_every", "z_threshold", "decay")},
    ("ou", "sample_s"): seconds_to_ns("ou", "sample_s", "sample_ns"),
    ("signals", "hurst_mean_reversion_below"): ("ou", "hurst_max", lambda c: c.signals.hurst_mean_reversion_below),
    **{("parkinson", f): same("parkinson", f) for f in ("window", "weight_parkinson", "weight_realized")},
    ("parkinson", "bar_s"): seconds_to_ns("parkinson", "bar_s", "bar_ns"),
    ("exits", "stop_k"): ("parkinson", "stop_k", lambda c: c.exits.stop_k),
    **{
        ("lob", f): same("lob", f)
        for f in ("zscore_window", "rsi_period", "ema_fast", "ema_slow", "atr_period", "bb_period", "bb_k")
    },
    ("lob", "stale_s"): seconds_to_ns("lob", "stale_s", "stale_ns"),
    ("lob", "bar_s"): seconds_to_ns("lob", "bar_s", "bar_ns"),
    **{("funding", f): same("funding", f) for f in ("window", "min_history", "z_threshold")},
    **{("lstm", f): same("lstm", f) for f in ("model_path", "accuracy_window", "min_accuracy", "torch_threads")},
    ("lstm", "cadence_ms"): ("lstm", "cadence_ns", lambda c: round(c.lstm.cadence_ms * 1_000_000)),
    ("ensemble", "weights"): same("ensemble", "weights"),
}
# Fields of the indicator sections that configure something other than the pipeline's indicators.
NOT_THE_PIPELINES = {
    ("funding", "entries"),
    ("funding", "entry_window_s"),
    ("funding", "hold_after_s"),
    ("funding", "settle_grace_s"),
    ("funding", "feed"),
    ("ensemble", "confidence_gate"),
    ("ensemble", "gate_members"),
}
BASE = {"instrument_id": str(SIM_SPEC.to_instrument().id), "vpin": {"volume_per_hour": 1000.0}, "orders": {"base_size": 0.05}}


def candidates(default: Any) -> list[Any]:
    """Values other than `default`, of its type (the first one the config accepts is used)."""
    if isinstance(default, bool):
        return [not default]
    if isinstance(default, int):
        return [default + 1, default - 1]
    if isinstance(default, float):
        return [default * 1.1 + 0.01, default * 0.9]
    if isinstance(default, tuple):
        n = len(default)
        if n == 4:  # the ensemble weights (sum to 1) and the VPIN multipliers (in [0, 1])
            return [(0.4, 0.3, 0.2, 0.1)]
        return [tuple(x * 0.9 + 0.001 * i for i, x in enumerate(default)), tuple(x * 1.05 for x in default)]
    if default is None:
        return ["some/model.pt"]
    if isinstance(default, str):  # the threshold modes
        return [mode for mode in ("quantile", "fixed") if mode != default]
    raise TypeError(f"no candidate for {default!r}")


def parse(changes: dict) -> ScalpStrategyConfig:
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in BASE.items()}
    for (section, field), value in changes.items():
        raw.setdefault(section, {})[field] = value
    return ScalpStrategyConfig.parse(msgspec.json.encode(raw))


@pytest.fixture
def recorded(monkeypatch):
    """`build_pipeline(config)` -> {member: the constructor's arguments, bound by name}."""
    for cls_name in MEMBERS.values():
        real = getattr(config_module, cls_name)
        signature = inspect.signature(real)

        def record(*args, _signature=signature, **kwargs):
            bound = _signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return dict(bound.arguments)

        monkeypatch.setattr(config_module, cls_name, record)
    monkeypatch.setattr(config_module, "FeaturePipeline", lambda **members: members)
    return config_module.build_pipeline


def test_every_pipeline_field_of_the_config_is_in_the_table():
    default = parse({})
    fields = {
        (section, f.name)
        for section in {*MEMBERS, "signals", "exits"}
        for f in msgspec.structs.fields(type(getattr(default, section)))
    }
    pipeline_sections = set(MEMBERS)
    unlisted = {k for k in fields - WIRING.keys() - NOT_THE_PIPELINES if k[0] in pipeline_sections}
    assert not unlisted, f"config fields with no known parameter (add them to WIRING or NOT_THE_PIPELINES): {unlisted}"


@pytest.mark.parametrize("key", sorted(WIRING), ids=".".join)
def test_each_config_value_reaches_its_parameter(recorded, key):
    section, field = key
    default_config = parse({})
    baseline = recorded(default_config)
    default = getattr(getattr(default_config, section), field)
    config = None
    for value in candidates(default):
        try:
            config = parse({key: value})
            break
        except (msgspec.ValidationError, ValueError):
            continue
    assert config is not None, f"no valid non-default value for {section}.{field}"
    member, param, expected = WIRING[key]
    want = {name: dict(args) for name, args in baseline.items()}
    want[member][param] = expected(config)
    assert want[member][param] != baseline[member][param] or (
        isinstance(want[member][param], float) and not math.isfinite(want[member][param])
    ), f"{section}.{field}: the candidate value does not change {member}.{param}"
    assert recorded(config) == want
