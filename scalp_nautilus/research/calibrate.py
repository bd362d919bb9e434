"""Strategy settings for a new instrument from its own recorded features (`research calibrate`).

DESIGN's thresholds come from the papers' markets and do not bind on crypto perpetuals; this
writes the instrument-dependent part of `configs/strategy.yaml` from a recording of the instrument:

- `vpin.volume_per_hour`: the traded volume per hour of event time (`traded_volume` column);
- `vpin.thresholds`: quantiles of its recorded VPIN (warm rows), and `vpin.threshold_mode`
  (default `quantile`: the indicator then re-reads them from its own rolling history while it
  runs, and these fixed values only cover the first buckets);
- `regime`: spread, depth and activity bounds as quantiles of its recorded values, and the mode;
- `orders.base_size`: a notional in quote currency over the median mid (linear contracts) or over
  the contract's face value (inverse contracts: `contract_value`), to 3 significant digits.

The recorded VPIN depends on the bucket size the recording ran with: record with a rough
`volume_per_hour`, calibrate, and record again when the two differ much (the command says by how
much). The output is a partial strategy config: it decodes on its own (every other key keeps
DESIGN's default) and can be `strategy.config_file` of a backtest or live config.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from scalp_nautilus.errors import InputError
from scalp_nautilus.research.edge import InsufficientData
from scalp_nautilus.research.edge import load_features
from scalp_nautilus.research.edge import warm_mask

MIN_HOURS = 1.0 / 60.0  # a minute of trading at the least
MIN_WARM_ROWS = 100
COLUMNS = ("traded_volume", "vpin", "spread_bps", "depth_notional", "activity_rate")


@dataclass(frozen=True)
class CalibrationSettings:
    # quote currency per base position; at least min notional / (0.25 x 0.2 x 0.6), the smallest VPIN x regime x
    # confidence factors that still trade, so that every allowed entry clears the venue's minimum (Binance: 100 USDT)
    notional: float = 5000.0
    contract_value: float | None = None  # inverse contracts: quote value of one contract (BTCUSD_PERP: 100)
    vpin_quantiles: tuple[float, float, float] = (0.5, 0.75, 0.95)
    regime_quantiles: tuple[float, float] = (0.2, 0.8)
    mode: str = "quantile"  # threshold_mode written for VPIN and the regime

    def __post_init__(self) -> None:
        if not 0 < self.notional < math.inf:
            raise InputError(f"notional must be a positive amount, got {self.notional}")
        if self.contract_value is not None and not 0 < self.contract_value < math.inf:
            raise InputError(f"contract_value must be positive, got {self.contract_value}")
        for name, qs in (("vpin_quantiles", self.vpin_quantiles), ("regime_quantiles", self.regime_quantiles)):
            if list(qs) != sorted(qs) or any(not 0.0 <= q <= 1.0 for q in qs):
                raise InputError(f"{name} must be increasing values in [0, 1], got {qs}")
        if self.mode not in ("fixed", "quantile"):
            raise InputError(f"mode must be fixed or quantile, got {self.mode!r}")


def _sig(x: float, digits: int = 3) -> float:
    """`x` to `digits` significant digits (plain float, YAML-friendly)."""
    return float(f"{x:.{digits}g}")


def volume_per_hour(data: pd.DataFrame) -> tuple[float, float]:
    """(volume per hour, hours of event time) over all files: each file's traded volume over its span."""
    volume = hours = 0.0
    for _, rows in data.groupby("file", sort=True):
        v, ts = rows["traded_volume"].to_numpy(), rows["ts_event"].to_numpy()
        volume += float(v[-1] - v[0])
        hours += (ts[-1] - ts[0]) / 3.6e12
    return (volume / hours if hours > 0 else 0.0), hours


def calibrate(features: Sequence[str | Path], settings: CalibrationSettings = CalibrationSettings()) -> tuple[dict, list[str]]:
    """(the strategy overrides, lines saying what they came from); InsufficientData when the files
    are too short or the regime never warm, ValueError naming the file when a column is missing.
    A VPIN that never warmed up leaves its thresholds out (and says so)."""
    data = load_features(features, COLUMNS)
    missing = [c for c in COLUMNS if c not in data]
    if missing:
        raise InputError(
            f"features files {', '.join(map(str, features))}: lack columns {missing} (recorded "
            "before `traded_volume` existed? record them again)"
        )
    vph, hours = volume_per_hour(data)
    if hours < MIN_HOURS or vph <= 0:
        raise InsufficientData(
            f"not enough data: {hours * 60:.2f} minutes with {vph:.4g} traded per hour "
            f"(need at least {MIN_HOURS * 60:g} minute of trading)"
        )
    vpin_rows = warm_mask(data, ("vpin",))
    regime_rows = warm_mask(data, ("regime",))
    if regime_rows.sum() < MIN_WARM_ROWS:
        raise InsufficientData(
            f"not enough data: {int(regime_rows.sum())} rows with a warm regime (need {MIN_WARM_ROWS}); record a longer span"
        )
    lo, hi = settings.regime_quantiles
    reg = data[regime_rows]
    spread = np.quantile(reg["spread_bps"], [lo, hi])
    depth = np.quantile(reg["depth_notional"], [lo, hi])
    activity = np.quantile(reg["activity_rate"], [lo, hi])
    mid = float(np.median(data["mid"]))
    base = settings.notional / (settings.contract_value or mid)
    vpin: dict = {"volume_per_hour": _sig(vph, 4)}
    lines = [
        (
            f"{len(data)} rows, {hours * 60:.1f} minutes of event time; {int(vpin_rows.sum())} with a warm VPIN, "
            f"{int(regime_rows.sum())} with a warm regime"
        ),
        f"volume per hour {vph:.6g} (size units)",
    ]
    if vpin_rows.sum() >= MIN_WARM_ROWS:
        vpin_q = np.quantile(data["vpin"].to_numpy()[vpin_rows], settings.vpin_quantiles)
        vpin["thresholds"] = [_sig(v) for v in _increasing(vpin_q)]
        lines.append(f"VPIN quantiles {settings.vpin_quantiles}: {np.round(vpin_q, 4).tolist()}")
    else:
        # The usual reason: the recording's volume_per_hour overstated the volume, so VPIN's window
        # never filled. The volume above fixes that; the fixed bounds stay DESIGN's.
        lines.append(
            f"VPIN was warm on {int(vpin_rows.sum())} rows only (need {MIN_WARM_ROWS}): thresholds not "
            "written (DESIGN's stay until quantile mode has its own history); record again with the "
            "volume per hour above to calibrate them"
        )
    vpin.update(threshold_mode=settings.mode, threshold_quantiles=list(settings.vpin_quantiles))
    overrides = {
        "vpin": vpin,
        "regime": {
            "spread_tight_bps": _sig(spread[0]),
            "spread_wide_bps": _sig(spread[1]),
            "depth_thin": _sig(depth[0]),
            "depth_thick": _sig(depth[1]),
            "activity_quiet": _sig(activity[0]),
            "activity_active": _sig(activity[1]),
            "threshold_mode": settings.mode,
            "quantiles": list(settings.regime_quantiles),
        },
        "orders": {"base_size": _sig(base)},
    }
    unit = "contracts" if settings.contract_value else "base units"
    lines += [
        (
            f"spread bps {np.round(spread, 4).tolist()}, depth notional {np.round(depth, 1).tolist()}, "
            f"activity per s {np.round(activity, 2).tolist()} at quantiles {settings.regime_quantiles}"
        ),
        (
            f"base size {overrides['orders']['base_size']} {unit} = {settings.notional:g} quote / "
            f"{settings.contract_value or mid:.6g}"
        ),
    ]
    if hours < 1.0:
        lines.append(
            f"note: {hours * 60:.1f} minutes is a short history; quantiles of a longer recording "
            "(hours, several sessions) are steadier"
        )
    return overrides, lines


def _increasing(values: np.ndarray) -> list[float]:
    """Quantiles rounded for the file stay non-decreasing (the config checks low <= medium <= high)."""
    out = [float(v) for v in values]
    for i in range(1, len(out)):
        out[i] = max(out[i], out[i - 1])
    return out


def write_overrides(overrides: dict, path: str | Path, header: Sequence[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"# {line}\n" for line in header) + yaml.safe_dump(overrides, sort_keys=False)
    path.write_text(text)
    return path
