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

- `vpin.window_minutes` and `hurst.window`: the warm-ups fitted to the data. A strategy is `cold`
  (takes no entry) until VPIN has a window of volume and Hurst a window of 1 s returns; with
  DESIGN's 5-minute VPIN window a 9-minute capture is cold for most of its decisions. Each is
  DESIGN's default or, when that would take more than `warmup_share` of the shortest recording
  given, shortened to fit; when even the shortest meaningful windows (VPIN 1 minute, Hurst 64
  returns) do not fit, the command refuses and says how long a recording it needs.

No bound is written degenerate: when an axis's two quantiles are equal (ETHUSDT's spread is one tick
on 99.8% of its rows), the bounds are left out and the output says why; the regime reads one tick
as tight and, in quantile mode, takes its spread bounds in ticks from its own history.

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
# DESIGN's warm-up windows (strategy/settings.py's defaults: research imports no strategy code) and
# the shortest that still measure something: VPIN over a minute of volume (the README's 1-5 minute
# range), Hurst's R/S over 64 returns (its block sizes n/8 .. n need n/8 >= 8).
VPIN_WINDOW_MINUTES, VPIN_MIN_WINDOW_MINUTES = 5.0, 1.0
HURST_WINDOW, HURST_MIN_WINDOW, HURST_SAMPLE_S = 128, 64, 1.0
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
    # the longest warm-up may take at most this share of the shortest recording (the rest is tradable)
    warmup_share: float = 0.25

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
        if not 0.0 < self.warmup_share <= 1.0:
            raise InputError(f"warmup_share must be in (0, 1], got {self.warmup_share}")


def _sig(x: float, digits: int = 3) -> float:
    """`x` to `digits` significant digits (plain float, YAML-friendly)."""
    return float(f"{x:.{digits}g}")


def volume_per_hour(data: pd.DataFrame) -> tuple[float, float, float]:
    """(volume per hour, hours of event time, hours of the shortest file) over all files: each
    file's traded volume over its span."""
    volume = hours = 0.0
    shortest = math.inf
    for _, rows in data.groupby("file", sort=True):
        v, ts = rows["traded_volume"].to_numpy(), rows["ts_event"].to_numpy()
        volume += float(v[-1] - v[0])
        hours += (ts[-1] - ts[0]) / 3.6e12
        shortest = min(shortest, (ts[-1] - ts[0]) / 3.6e12)
    return (volume / hours if hours > 0 else 0.0), hours, (shortest if hours > 0 else 0.0)


def fit_warmups(shortest_hours: float, share: float) -> tuple[float, int, list[str]]:
    """(VPIN window in minutes, Hurst window in returns, lines saying why): DESIGN's windows, each
    shortened when its warm-up would take more than `share` of the shortest recording;
    InsufficientData when the shortest meaningful windows do not fit either."""
    budget_min = share * shortest_hours * 60.0
    hurst_min_s = (HURST_MIN_WINDOW + 1) * HURST_SAMPLE_S  # window + 1 samples give `window` returns
    need = max(VPIN_MIN_WINDOW_MINUTES, hurst_min_s / 60.0)
    if budget_min < need:
        raise InsufficientData(
            f"not enough data for the warm-ups: the shortest recording is {shortest_hours * 60:.1f} minutes, and "
            f"the shortest windows (VPIN {VPIN_MIN_WINDOW_MINUTES:g} minute of volume, Hurst {HURST_MIN_WINDOW} "
            f"returns of {HURST_SAMPLE_S:g} s) need {need:.2f} minutes, more than {share:.0%} of it; record at least "
            f"{need / share:.1f} minutes (or raise --warmup-share)"
        )
    vpin = min(VPIN_WINDOW_MINUTES, math.floor(budget_min * 10.0) / 10.0)  # >= the minimum: budget_min >= need
    hurst = int(min(HURST_WINDOW, budget_min * 60.0 / HURST_SAMPLE_S - 1))
    lines = []
    for name, value, default, unit in (
        ("vpin.window_minutes", vpin, VPIN_WINDOW_MINUTES, "minutes of volume"),
        ("hurst.window", hurst, HURST_WINDOW, "returns"),
    ):
        if value < default:
            lines.append(
                f"{name} {value:g} {unit} (DESIGN: {default:g}): shortened so that its warm-up takes at most "
                f"{share:.0%} of the shortest recording ({shortest_hours * 60:.1f} minutes); calibrate on a longer "
                "recording to keep DESIGN's"
            )
        else:
            lines.append(f"{name} {value:g} {unit} (DESIGN's): its warm-up fits in {share:.0%} of the shortest recording")
    return vpin, hurst, lines


def _bounds(name: str, values: np.ndarray, quantiles: tuple[float, float]) -> tuple[list[float] | None, str]:
    """The (low, high) quantiles as written (3 significant digits), or None with the reason when
    they are equal: a degenerate pair would split one value into three labels."""
    lo, hi = np.quantile(values, quantiles)
    written = [_sig(lo), _sig(hi)]
    if written[0] < written[1]:
        return written, f"{name} {written} at quantiles {quantiles}"
    share = float(np.mean(values == np.median(values)))
    return None, (
        f"{name}: cannot fit bounds, the {quantiles[0]:g} and {quantiles[1]:g} quantiles are equal ({written[0]:g}; "
        f"{share:.1%} of the warm rows hold the median): not written, DESIGN's fixed bounds stay"
    )


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
    vph, hours, shortest = volume_per_hour(data)
    if hours < MIN_HOURS or vph <= 0:
        raise InsufficientData(
            f"not enough data: {hours * 60:.2f} minutes with {vph:.4g} traded per hour "
            f"(need at least {MIN_HOURS * 60:g} minute of trading)"
        )
    vpin_window, hurst_window, warmup_lines = fit_warmups(shortest, settings.warmup_share)
    vpin_rows = warm_mask(data, ("vpin",))
    regime_rows = warm_mask(data, ("regime",))
    if regime_rows.sum() < MIN_WARM_ROWS:
        raise InsufficientData(
            f"not enough data: {int(regime_rows.sum())} rows with a warm regime (need {MIN_WARM_ROWS}); record a longer span"
        )
    reg = data[regime_rows]
    mid = float(np.median(data["mid"]))
    base = settings.notional / (settings.contract_value or mid)
    vpin: dict = {"volume_per_hour": _sig(vph, 4), "window_minutes": vpin_window}
    lines = [
        (
            f"{len(data)} rows, {hours * 60:.1f} minutes of event time; {int(vpin_rows.sum())} with a warm VPIN, "
            f"{int(regime_rows.sum())} with a warm regime"
        ),
        f"volume per hour {vph:.6g} (size units)",
        *warmup_lines,
    ]
    if vpin_rows.sum() >= MIN_WARM_ROWS:
        vpin_q = np.quantile(data["vpin"].to_numpy()[vpin_rows], settings.vpin_quantiles)
        thresholds = [_sig(v) for v in _increasing(vpin_q)]
        if thresholds[0] < thresholds[1] < thresholds[2]:
            vpin["thresholds"] = thresholds
            lines.append(f"VPIN quantiles {settings.vpin_quantiles}: {np.round(vpin_q, 4).tolist()}")
        else:
            lines.append(
                f"VPIN quantiles {settings.vpin_quantiles} are {thresholds}: not distinct, thresholds not written "
                "(DESIGN's stay until quantile mode has its own history)"
            )
    else:
        # The usual reason: the recording's volume_per_hour overstated the volume, so VPIN's window
        # never filled. The volume above fixes that; the fixed bounds stay DESIGN's.
        lines.append(
            f"VPIN was warm on {int(vpin_rows.sum())} rows only (need {MIN_WARM_ROWS}): thresholds not "
            "written (DESIGN's stay until quantile mode has its own history); record again with the "
            "volume per hour above to calibrate them"
        )
    vpin.update(threshold_mode=settings.mode, threshold_quantiles=list(settings.vpin_quantiles))
    regime: dict = {}
    spread, line = _spread_bounds(reg, settings.regime_quantiles)
    lines.append(line)
    if spread is not None:
        regime["spread_tight_bps"], regime["spread_wide_bps"] = spread
    for name, column, keys in (
        ("depth notional", "depth_notional", ("depth_thin", "depth_thick")),
        ("activity per s", "activity_rate", ("activity_quiet", "activity_active")),
    ):
        bounds, line = _bounds(name, reg[column].to_numpy(np.float64), settings.regime_quantiles)
        lines.append(line)
        if bounds is not None:
            regime.update(zip(keys, bounds))
    regime.update(threshold_mode=settings.mode, quantiles=list(settings.regime_quantiles))
    overrides = {"vpin": vpin, "hurst": {"window": hurst_window}, "regime": regime, "orders": {"base_size": _sig(base)}}
    unit = "contracts" if settings.contract_value else "base units"
    per = settings.contract_value or mid
    lines.append(f"base size {overrides['orders']['base_size']} {unit} = {settings.notional:g} quote / {per:.6g}")
    if hours < 1.0:
        lines.append(
            f"note: {hours * 60:.1f} minutes is a short history; quantiles of a longer recording "
            "(hours, several sessions) are steadier"
        )
    return overrides, lines


def _spread_bounds(rows: pd.DataFrame, quantiles: tuple[float, float]) -> tuple[list[float] | None, str]:
    """The spread's bounds in bps, unless its quantiles are one and the same number of ticks (in units
    of the narrowest spread seen, the recording's tick at most): then their bps differ only by the
    mid, and a pair of them would split one spread into three labels by price level."""
    spread = rows["spread_bps"].to_numpy(np.float64) * rows["mid"].to_numpy(np.float64) / 1e4
    narrowest = float(spread[spread > 0].min()) if (spread > 0).any() else 0.0
    if narrowest > 0:
        ticks = np.round(spread / narrowest)
        lo, hi = np.quantile(ticks, quantiles)
        if lo == hi:
            return None, (
                f"spread: cannot fit bounds, its {quantiles[0]:g} and {quantiles[1]:g} quantiles are both {lo:g} x the "
                f"narrowest spread seen ({narrowest:.6g}, on {float(np.mean(ticks == 1)):.1%} of the warm rows): not "
                "written; the regime reads a one-tick spread as tight and, in quantile mode, takes its bounds in ticks"
            )
    return _bounds("spread bps", rows["spread_bps"].to_numpy(np.float64), quantiles)


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
