"""The look-ahead audit: does any recorded feature, or any entry decision, depend on data that comes
after it? (`scalp-nautilus research lookahead`; after Freqtrade's `lookahead-analysis`, which runs a
strategy on the full span and on spans cut short and compares the signals both give at the same
candles.)

The catalog is replayed once whole (`replay_features`) and once cut at each of N random points in
event time (the replay's `end`: no data after the cut is read at all). A replay that only looks
back gives, before a cut, exactly the rows of the full run: every row of each cut run must be
bit-identical, column by column (floats compared by their bits, so -0.0 and NaN payloads count),
to the full run's row at the same place, and so must the entry decision `decide` takes from a
flat position on it (`strategy.decision`, with the config's parameters and the instrument's
lots). A feature that read the next batch would differ on the last rows before a cut, where the
cut run has no next batch.

What it cannot see: a look-ahead that reads nothing the replay loads (a table of future values
prepared beforehand gives the same numbers cut or not), and one that only shows past the points
drawn (more cuts, `--cuts`, see more).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from nautilus_trader.persistence.catalog import ParquetDataCatalog

from scalp_nautilus.backtest.runner import catalog_instrument
from scalp_nautilus.errors import InputError
from scalp_nautilus.feature_replay.replay import replay_features
from scalp_nautilus.features import FeatureSnapshot
from scalp_nautilus.strategy.decision import FLAT
from scalp_nautilus.strategy.decision import DecisionParams
from scalp_nautilus.strategy.decision import decide
from scalp_nautilus.strategy.settings import ScalpStrategyConfig

Replay = Callable[..., object]


@dataclass(frozen=True)
class Cut:
    """One cut: its time, the rows its run gave and how many differ from the full run's."""

    ts: int  # ns: the replay's `end`
    rows: int
    rows_differing: int
    first_row: int | None  # index of the first differing row
    columns: tuple[str, ...]  # the columns that differ on that row
    decisions_differing: int
    first_decision: int | None

    @property
    def clean(self) -> bool:
        return self.rows_differing == 0 and self.decisions_differing == 0


@dataclass(frozen=True)
class LookaheadResult:
    rows: int  # of the full run
    cuts: tuple[Cut, ...]

    @property
    def clean(self) -> bool:
        return all(c.clean for c in self.cuts)

    def lines(self) -> list[str]:
        out = []
        for c in self.cuts:
            when = pd.Timestamp(c.ts, tz="UTC").isoformat()
            if c.clean:
                out.append(f"cut at {when}: {c.rows:,} rows and their flat-position decisions identical to the full run's")
            else:
                out.append(
                    f"cut at {when}: {c.rows_differing:,} of {c.rows:,} rows differ (first row {c.first_row}, columns "
                    f"{', '.join(c.columns) or '-'}), {c.decisions_differing:,} decisions differ (first {c.first_decision})"
                )
        verdict = "no look-ahead found" if self.clean else "LOOK-AHEAD: rows before a cut depend on data after it"
        out.append(f"{verdict} ({len(self.cuts)} cuts of a {self.rows:,}-row replay)")
        return out


def audit(
    catalog: str | Path,
    instrument_id: str,
    config: ScalpStrategyConfig,
    cuts: int = 10,
    seed: int = 7,
    start: str | None = None,
    end: str | None = None,
    work_dir: str | Path | None = None,
    replay: Replay = replay_features,
) -> LookaheadResult:
    """Replay whole, then cut at `cuts` points drawn (seeded) uniformly among the full run's book
    batches (not the first or last tenth: a cut must leave rows on both sides), and compare."""
    if cuts < 1:
        raise InputError(f"cuts must be >= 1, got {cuts}")
    instrument = catalog_instrument(ParquetDataCatalog(str(catalog)), instrument_id)
    params = DecisionParams(config, instrument)
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        full_path = Path(tmp) / "full.parquet"
        replay(catalog, instrument_id, config, full_path, start=start, end=end)
        full = pq.read_table(full_path).to_pandas()
        if len(full) < 10:
            raise InputError(f"{catalog}: {len(full)} book batches of {instrument_id} in the span: too few to cut")
        full_decisions = _decisions(full, params)
        ts = full["ts_event"].to_numpy(np.int64)
        rng = np.random.default_rng(seed)
        picks = np.sort(rng.integers(len(full) // 10, len(full) - len(full) // 10, size=cuts))
        results = []
        for k, i in enumerate(picks):
            cut_ts = int(ts[i])
            path = Path(tmp) / f"cut{k}.parquet"
            replay(catalog, instrument_id, config, path, start=start, end=pd.Timestamp(cut_ts, tz="UTC").isoformat())
            part = pq.read_table(path).to_pandas()
            results.append(_compare(cut_ts, full, full_decisions, part, params))
    return LookaheadResult(len(full), tuple(results))


def _decisions(rows: pd.DataFrame, params: DecisionParams) -> list[tuple]:
    """The entry decision from a flat position on every row."""
    fields = list(FeatureSnapshot._fields)
    return [tuple(decide(FeatureSnapshot(*r), FLAT, params)) for r in rows[fields].itertuples(index=False, name=None)]


def _compare(cut_ts: int, full: pd.DataFrame, full_decisions: list[tuple], part: pd.DataFrame, params: DecisionParams) -> Cut:
    n = len(part)
    if n > len(full):
        return Cut(cut_ts, n, n - len(full), len(full), ("(more rows than the full run)",), 0, None)
    differ = np.zeros(n, bool)
    first_columns: dict[str, np.ndarray] = {}
    for name in full.columns:
        a, b = full[name].to_numpy()[:n], part[name].to_numpy() if name in part else None
        same = np.zeros(n, bool) if b is None else _bit_equal(a, b)
        differ |= ~same
        first_columns[name] = ~same
    rows_differing = int(differ.sum())
    first = int(np.argmax(differ)) if rows_differing else None
    columns = tuple(c for c, d in first_columns.items() if first is not None and d[first])
    decisions = _decisions(part, params)
    wrong = [k for k in range(n) if decisions[k] != full_decisions[k]]
    return Cut(cut_ts, n, rows_differing, first, columns, len(wrong), wrong[0] if wrong else None)


def _bit_equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise identity: floats by their 64 bits, everything else by value."""
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        return np.ascontiguousarray(a, np.float64).view(np.int64) == np.ascontiguousarray(b, np.float64).view(np.int64)
    return np.asarray(a == b, bool)
