"""`research edge`'s outputs: `edge.csv`, `claims.csv` and one self-contained `report.html` (tables and
matplotlib plots embedded as base64 PNG, no external file or script).

Missing values are written as empty CSV cells and "-" in the HTML, with the row's verdict saying
why; NaN or inf never reaches a file.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import numpy as np
import pandas as pd

from scalp_nautilus.errors import InputError
from scalp_nautilus.research.claims import Claim
from scalp_nautilus.research.claims import claims_frame
from scalp_nautilus.research.claims import claims_table
from scalp_nautilus.research.edge import HORIZONS_S
from scalp_nautilus.research.edge import Costs
from scalp_nautilus.research.edge import EdgeResult
from scalp_nautilus.research.edge import InsufficientData
from scalp_nautilus.research.edge import edge_table
from scalp_nautilus.research.edge import invalid_span_lines
from scalp_nautilus.research.edge import load_features
from scalp_nautilus.research.edge import summary_lines
from scalp_nautilus.research.edge import unavailable_lines
from scalp_nautilus.research.intervals import BootstrapSettings


@dataclass(frozen=True)
class ResearchSettings:
    horizons: tuple[float, ...] = HORIZONS_S
    boot: BootstrapSettings = field(default_factory=BootstrapSettings)
    sample_ms: float = 200.0
    costs: Costs = field(default_factory=Costs)

    def __post_init__(self) -> None:
        if not self.horizons or any(not 0 < h < np.inf for h in self.horizons):
            raise InputError(f"horizons must be positive seconds, got {self.horizons}")
        if self.sample_ms < 0:
            raise InputError(f"need sample_ms >= 0, got {self.sample_ms}")


@dataclass
class ResearchResult:
    edge: EdgeResult
    claims: list[Claim]
    summary: list[str]
    rows: int
    files: list[str]


def run_edge(
    features: Sequence[str | Path],
    out: str | Path,
    settings: ResearchSettings = ResearchSettings(),
    lee_ready: Sequence[str | Path] | None = None,
) -> ResearchResult:
    """Read the files, write edge.csv, claims.csv and report.html into `out`; InsufficientData when
    no row is usable at all."""
    data = load_features(features)
    if data.empty:
        raise InsufficientData(f"{', '.join(map(str, features))}: no row with a valid book")
    lr = load_features(lee_ready) if lee_ready else None
    edge = edge_table(data, settings.horizons, settings.costs, settings.boot, settings.sample_ms)
    claims = claims_table(data, lr, settings.boot, settings.sample_ms)
    result = ResearchResult(
        edge,
        claims,
        summary_lines(edge) + invalid_span_lines(data) + unavailable_lines(data),
        len(data),
        [str(p) for p in features],
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(edge.table, out / "edge.csv")
    write_csv(claims_frame(claims), out / "claims.csv")
    (out / "report.html").write_text(render_html(result, settings))
    return result


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    clean = frame.replace([np.inf, -np.inf], np.nan)
    clean.to_csv(path, index=False, na_rep="", float_format="%.6g")


# ---------------------------------------------------------------------- html


def _plt():
    """pyplot on the Agg backend (no display; imported only when a report is drawn)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    _plt().close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}"/>'


def _table(frame: pd.DataFrame) -> str:
    def cell(v) -> str:
        if isinstance(v, (float, np.floating)):
            return "-" if not np.isfinite(v) else f"{v:.4g}"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in frame.itertuples(index=False))
    return f"<table><tr>{head}</tr>{body}</table>"


def _ic_plot(edge: pd.DataFrame) -> str:
    plt = _plt()
    main = edge[edge["subset"] == "all"]
    names = list(dict.fromkeys(main["signal"]))
    cols = 4
    fig, axes = plt.subplots(
        (len(names) + cols - 1) // cols, cols, figsize=(14, 2.6 * ((len(names) + cols - 1) // cols)), squeeze=False, sharex=True
    )
    for ax, name in zip(axes.flat, names):
        s = main[(main["signal"] == name) & main["ic"].notna()]
        if len(s):
            lo = (s["ic"] - s["ic_lo"]).fillna(0).clip(lower=0)
            hi = (s["ic_hi"] - s["ic"]).fillna(0).clip(lower=0)
            ax.errorbar(s["horizon_s"], s["ic"], yerr=[lo, hi], fmt="o-", capsize=3)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.set_title(name, fontsize=9)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.supxlabel("horizon (s)")
    fig.supylabel("Spearman IC (95% block-bootstrap interval)")
    return _png(fig)


def _decile_plot(edge: pd.DataFrame) -> str:
    plt = _plt()
    main = edge[(edge["subset"] == "all") & edge["top_bps"].notna()]
    horizons = sorted(main["horizon_s"].unique())
    if not horizons:
        return "<p>no signal has decile returns on these rows</p>"
    names = list(dict.fromkeys(main["signal"]))
    fig, axes = plt.subplots(1, len(horizons), figsize=(3.0 * len(horizons) + 1.5, 4.5), squeeze=False, sharey=True)
    for ax, h in zip(axes[0], horizons):
        s = main[main["horizon_s"] == h].set_index("signal").reindex(names)
        y = np.arange(len(names))
        ax.barh(y - 0.2, s["top_bps"], height=0.4, label="top decile")
        ax.barh(y + 0.2, s["bottom_bps"], height=0.4, label="bottom decile")
        ax.set_yticks(y, names, fontsize=7)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_title(f"h = {h:g} s", fontsize=9)
        ax.set_xlabel("mean forward return (bps)")
    axes[0][0].legend(fontsize=7)
    return _png(fig)


def _scatter(claims: Sequence[Claim], claim_id: str, x: str, y: str, xlabel: str, ylabel: str) -> str:
    plt = _plt()
    points = next((c.points for c in claims if c.id == claim_id), {})
    if not points or len(points.get(x, ())) == 0:
        return f"<p>no {claim_id} windows on these rows</p>"
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.scatter(points[x], points[y], s=10, alpha=0.6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return _png(fig)


def render_html(result: ResearchResult, settings: ResearchSettings) -> str:
    edge, claims = result.edge.table, claims_frame(result.claims)
    main = edge[edge["subset"] == "all"].drop(columns=["subset"])
    bands = edge[edge["subset"] != "all"][["signal", "horizon_s", "subset", "n", "ic", "ic_lo", "ic_hi", "p_adj", "verdict"]]
    days = main[main["days"] >= 2][["signal", "horizon_s", "ic", "days", "days_agree", "ic_by_day", "verdict"]]
    c, b = settings.costs, settings.boot
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>scalp_nautilus research: edge and claims</title>",
        (
            "<style>body{font-family:sans-serif;margin:1.5em;max-width:1400px}table{border-collapse:collapse;font-size:12px}"
            "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#eee}"
            "td:first-child{text-align:left}img{max-width:100%}</style></head><body>"
        ),
        "<h1>Do the features have edge?</h1>",
        (
            f"<p>Files: {html.escape(', '.join(result.files))}; {result.rows} rows with a valid book, thinned to one "
            f"per {settings.sample_ms:g} ms for the edge table. Intervals: {b.level:.0%} percentile intervals of arch's "
            f"{b.method} block bootstrap, seed {b.seed}; the mean block length per horizon is Politis-White's from the data "
            "and never shorter than the horizon ("
            + html.escape(", ".join(f"{h:g} s: {n:.0f} rows" for h, n in result.edge.blocks.items()))
            + f"); at least {b.min_reps} resamples, more (up to {b.max_reps}) until each bound's Monte Carlo error "
            f"(95% half-width, column ic_mc_err) is at most {b.mc_target:g}. p_adj: Benjamini-Hochberg over the "
            "signal x horizon family (all rows; the band subsets form a second family). A verdict within its Monte "
            f"Carlo error of its threshold reads borderline. Costs per leg: maker {c.maker_bps:g} bp, taker "
            f"{c.taker_bps:g} bp; a taker leg also pays half the quoted spread. Edge after costs = decile spread / 2 - "
            "round-trip cost (one trade takes one side); the best edge carries Hansen's SPA p-value.</p>"
        ),
        "<h2>Summary</h2><pre>" + html.escape("\n".join(result.summary)) + "</pre>",
        "<h2>Claims of DESIGN.md, tested</h2>" + _table(claims),
        "<h2>Edge: every signal and horizon (all rows)</h2>" + _table(main),
        "<h2>Per UTC day: does the sign hold on most days?</h2>"
        + (_table(days) if len(days) else "<p>the rows span one UTC day: no agreement to show</p>"),
        "<h2>IC by horizon</h2>" + _ic_plot(edge),
        "<h2>Decile returns</h2>" + _decile_plot(edge),
        "<h2>VPIN against the next window's realised volatility</h2>"
        + _scatter(
            result.claims,
            "vpin_volatility",
            "vpin",
            "next_rv_bps",
            "VPIN at the window's start",
            "realised volatility of the next window (bps)",
        ),
        "<h2>Hurst against the following variance ratio</h2>"
        + _scatter(result.claims, "hurst_vr_rank", "hurst", "vr", "Hurst exponent", "variance ratio of the next window"),
        "<h2>ICs within each Hurst band and VPIN regime</h2>" + _table(bands),
        "</body></html>",
    ]
    return "\n".join(parts)
