"""The features' behaviour on the real captures: the figures of docs/features.md.

Each shared Binance futures capture is imported into a temporary catalog and replayed through the
feature pipeline (`replay_features`) with configs/strategy.yaml's defaults, except
`vpin.volume_per_hour`, which has no default: the capture's own traded volume per hour. Over the
rows where each feature is warm (the recorder's `cold` column) it prints the feature's distribution
(regime shares, quantiles), then DESIGN's claims as `research edge` tests them (OFI's R², Lee-Ready
against the venue's flag from a second replay with `classifier.ignore_venue: true`, Parkinson's
efficiency, ...). Minutes of data per capture: the distributions describe these minutes, not BTC.

    PYTHONPATH=. python bench/feature_figures.py [--captures usdm_2023_04 ...] [--out /tmp/feature_figures]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from nautilus_trader.persistence.catalog import ParquetDataCatalog

from scalp_nautilus.backtest.settings import check_strategy_config
from scalp_nautilus.config import merge
from scalp_nautilus.config import nest
from scalp_nautilus.config import read_yaml
from scalp_nautilus.data.binance_capture import BinanceCaptureImporter
from scalp_nautilus.data.catalog import write_to_catalog
from scalp_nautilus.feature_replay.replay import replay_features
from scalp_nautilus.research.claims import claims_frame
from scalp_nautilus.research.claims import claims_table
from scalp_nautilus.research.edge import load_features
from scalp_nautilus.research.edge import warm_mask
from tests.support.shared_data import CAPTURES
from tests.support.shared_data import shared_data_dir

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "scalp_nautilus.strategy:ScalpStrategyConfig"
REGIMES = ("LOW", "MEDIUM", "HIGH", "EXTREME")


def _q(x: np.ndarray, qs=(0.1, 0.5, 0.9)) -> str:
    return " / ".join(f"{v:.3g}" for v in np.quantile(x, qs)) if len(x) else "-"


def _share(mask: np.ndarray) -> str:
    return f"{100 * mask.mean():.0f} %" if len(mask) else "-"


def figures(data: pd.DataFrame) -> dict[str, str]:
    """One line per feature over its warm rows."""
    out: dict[str, str] = {"rows (book batches)": f"{len(data):,}"}

    def warm(*needs: str) -> pd.DataFrame:
        return data[warm_mask(data, needs)]

    v = warm("vpin")
    regime = v["vpin_regime"].to_numpy()
    out["VPIN p10 / p50 / p90"] = _q(v["vpin"].to_numpy())
    out["VPIN regime LOW / MEDIUM / HIGH / EXTREME"] = " / ".join(_share(regime == i) for i in range(4))
    o = warm("ofi")
    out["OFI z |z| > 2"] = _share(np.abs(o["ofi_z"].to_numpy()) > 2)
    h = warm("hurst")["hurst"].to_numpy()
    out["Hurst p10 / p50 / p90"] = _q(h)
    out["Hurst < 0.4 / 0.45-0.55 / > 0.6"] = " / ".join(_share(m) for m in (h < 0.4, (h >= 0.45) & (h <= 0.55), h > 0.6))
    ou = warm("ou", "hurst")
    out["OU signal non-zero"] = _share(ou["ou_signal"].to_numpy() != 0)
    p = warm("parkinson")
    out["blended sigma, bp per 1 s bar, p10 / p50 / p90"] = _q(1e4 * p["blend_vol"].to_numpy())
    ratio = p["parkinson_vol"].to_numpy() / np.where(p["realized_vol"].to_numpy() > 0, p["realized_vol"].to_numpy(), np.nan)
    out["sigma_Parkinson / sigma_close-to-close, median"] = f"{np.nanmedian(ratio):.2f}" if len(ratio) else "-"
    c = warm("cvd")
    out["CVD |divergence| > 0.3"] = _share(np.abs(c["cvd_divergence"].to_numpy()) > 0.3)
    r = warm("regime")
    out["spread bps p10 / p50 / p90"] = _q(r["spread_bps"].to_numpy())
    out["depth within the band, quote currency, p50"] = f"{np.median(r['depth_notional']):,.0f}" if len(r) else "-"
    out["book updates per second p10 / p50 / p90"] = _q(r["activity_rate"].to_numpy())
    out["regime multiplier = 1.0"] = _share(r["regime_multiplier"].to_numpy() == 1.0)
    liq = warm("liquidity")
    out["Kyle's lambda p10 / p50 / p90 (quote per size unit)"] = _q(liq["kyle_lambda"].to_numpy())
    out["slippage of the configured size, buy, bps p50"] = f"{np.median(liq['slippage_buy_bps']):.3g}" if len(liq) else "-"
    e = warm("ofi", "cvd", "ou", "hurst")
    out["ensemble confidence (four members) p95"] = f"{np.quantile(e['ensemble_confidence'], 0.95):.3g}" if len(e) else "-"
    out["ensemble confidence >= 0.6"] = _share(e["ensemble_confidence"].to_numpy() >= 0.6)
    lob = data["lob_0"].to_numpy() != 0
    out["LOB vector non-zero (warm, fresh)"] = _share(lob)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--captures", nargs="+", default=list(CAPTURES))
    p.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="feature_figures")))
    p.add_argument("--boot", type=int, default=200)
    a = p.parse_args()
    shared = shared_data_dir()
    if shared is None:
        raise SystemExit("the shared captures are not found (../shared/data or SCALP_SHARED_DATA)")
    base = read_yaml(ROOT / "configs" / "strategy.yaml")
    table: dict[str, dict[str, str]] = {}
    claims: dict[str, pd.DataFrame] = {}
    for name in a.captures:
        folder = a.out / name
        catalog = folder / "catalog"
        importer = BinanceCaptureImporter([shared / "binance-futures" / f for f in CAPTURES[name]])
        write_to_catalog(importer.events(), importer.instrument, catalog)
        iid = importer.instrument.id.value
        trades = ParquetDataCatalog(str(catalog)).trade_ticks([iid])
        per_hour = sum(float(t.size) for t in trades) / ((trades[-1].ts_event - trades[0].ts_event) / 3.6e12)
        raw = merge(base, nest({"vpin.volume_per_hour": per_hour}))
        config = check_strategy_config(raw, CONFIG, iid, name)
        lr_config = check_strategy_config(merge(raw, nest({"classifier.ignore_venue": True})), CONFIG, iid, name)
        rows = replay_features(catalog, iid, config, folder / "features.parquet")
        replay_features(catalog, iid, lr_config, folder / "lee_ready.parquet")
        data = load_features([rows.path])
        table[name] = figures(data)
        claims[name] = claims_frame(claims_table(data, load_features([folder / "lee_ready.parquet"]), a.boot, 7, 200.0))
    print(pd.DataFrame(table).to_string())
    for name, frame in claims.items():
        print(f"\nclaims on {name}")
        cols = [c for c in ("id", "value", "lo", "hi", "n", "n_unit", "verdict") if c in frame.columns]
        print(frame[cols].to_string(index=False))


if __name__ == "__main__":
    main()
