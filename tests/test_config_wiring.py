"""Every indicator setting of `ScalpStrategyConfig` reaches its indicator (issue 15, defect 2:
`build_pipeline` passed 12 and 7 positional arguments, and `regime.spread_factors` /
`regime.depth_factors` share a default, so swapping them passed every test).

Each indicator now takes its own section (`scalp_nautilus.indicators.settings`) and reads the fields
by name, so there is no field-by-field mapping left to police. What is checked: each field of a
pipeline section in turn gets a value other than its default, and the indicator built from that
config must differ from the default one (its parameters, compiled state or attributes: a field it
never reads leaves it unchanged and fails), while every other indicator stays the same.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import pytest

from scalp_nautilus.data.simulator import SIM_SPEC
from scalp_nautilus.strategy import ScalpStrategyConfig
from scalp_nautilus.strategy import settings as config_module

PIPELINE_SECTIONS = (
    "vpin",
    "classifier",
    "ofi",
    "cvd",
    "regime",
    "liquidity",
    "hurst",
    "ou",
    "parkinson",
    "lob",
    "funding",
    "lstm",
    "ensemble",
)
# fields of other sections that reach an indicator: (section, field) -> the pipeline member
ELSEWHERE = {("signals", "hurst_mean_reversion_below"): "ou"}
# fields of the pipeline's sections that configure something else (the strategy's entries, the feed, the gate)
NOT_THE_PIPELINES = {
    ("funding", "entries"),
    ("funding", "entry_window_s"),
    ("funding", "hold_after_s"),
    ("funding", "settle_grace_s"),
    ("funding", "feed"),
    ("ensemble", "confidence_gate"),
    ("ensemble", "gate_members"),
}
# fields read only in the quantile mode: changed with the section in that mode
QUANTILE_MODE = {("vpin", f) for f in ("threshold_quantiles", "quantile_history", "quantile_min")}
QUANTILE_MODE |= {("regime", f) for f in ("quantiles", "quantile_history", "quantile_min", "quantile_sample_s")}
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
    if isinstance(default, str):  # the choices (Literal) of the sections
        return [c for c in ("quantile", "fixed", "all", "active", "binance_mark_price", "funding_rates") if c != default]
    raise TypeError(f"no candidate for {default!r}")


def parse(changes: dict) -> ScalpStrategyConfig:
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in BASE.items()}
    for (section, field), value in changes.items():
        raw.setdefault(section, {})[field] = value
    return ScalpStrategyConfig.parse(msgspec.json.encode(raw))


def fingerprint(value: Any, seen: set[int] | None = None) -> Any:
    """What an indicator is made of, minus the settings it was given: its parameters, its compiled
    state (arrays) and its attributes, children included."""
    seen = set() if seen is None else seen
    if isinstance(value, np.ndarray):
        return (value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, (int, float, str, bool, type(None), tuple)):
        return repr(value)
    if id(value) in seen:
        return "<seen>"
    seen.add(id(value))
    attributes = getattr(value, "__dict__", None)
    if attributes is None:
        return repr(value)
    own = {k: fingerprint(v, seen) for k, v in sorted(attributes.items()) if k != "settings" and not callable(v)}
    shown = repr(value)  # an Indicator's shows its parameters; a plain object's only its address
    return (type(value).__name__, "" if " object at 0x" in shown else shown, own)


@pytest.fixture
def build(monkeypatch):
    """config -> {member: fingerprint of the indicator `build_pipeline` made}. The pipeline itself
    is left out: it requires the bar settings of Hurst, OU, Parkinson and the LOB vector to agree,
    and each is changed alone here."""
    monkeypatch.setattr(config_module, "FeaturePipeline", lambda **members: members)
    return lambda config: {name: fingerprint(ind) for name, ind in config_module.build_pipeline(config).items()}


def _fields() -> list[tuple[str, str]]:
    default = parse({})
    out = [
        (section, f.name)
        for section in PIPELINE_SECTIONS
        for f in msgspec.structs.fields(type(getattr(default, section)))
        if (section, f.name) not in NOT_THE_PIPELINES
    ]
    return out + sorted(ELSEWHERE)


def _base(key: tuple[str, str]) -> dict:
    return {(key[0], "threshold_mode"): "quantile"} if key in QUANTILE_MODE else {}


def _changed(section: str, field: str) -> ScalpStrategyConfig:
    default = getattr(getattr(parse({}), section), field)
    for value in candidates(default):
        try:
            return parse({**_base((section, field)), (section, field): value})
        except (msgspec.ValidationError, ValueError):
            continue
    raise AssertionError(f"no valid non-default value for {section}.{field}")


@pytest.mark.parametrize("key", _fields(), ids=".".join)
def test_each_config_value_reaches_its_indicator(build, key):
    section, field = key
    member = ELSEWHERE.get(key, section)
    baseline, changed = build(parse(_base(key))), build(_changed(section, field))
    assert changed[member] != baseline[member], f"{section}.{field} does not reach the {member} indicator"
    others = [name for name in baseline if name != member and changed[name] != baseline[name]]
    assert not others, f"{section}.{field} changed {others} too"


@pytest.mark.parametrize("key", sorted(NOT_THE_PIPELINES), ids=".".join)
def test_the_other_fields_leave_the_indicators_alone(build, key):
    assert build(_changed(*key)) == build(parse({}))
