"""The warm-state file of a live `ScalpStrategy`: the feature pipeline's state, saved and restored
across restarts (`StateSettings` in the strategy config).

JSON (Python's: every float digit kept, NaN allowed), written to a temporary file and renamed over
the old one, so a crash while saving leaves the previous state intact. A file is used only if it
is this format and version and for the same instrument; anything else is logged with the reason
and ignored (the indicators then warm up again). Within it, each indicator is restored on its own
(`FeaturePipeline.restore`): one whose parameters changed warms up again, the others continue (an
exit rule such as `exits.stop_k` is no indicator's parameter, so changing it keeps them all). Age:
the fast state (every window of seconds to minutes) is taken up to `max_age_ns` old, the slow state
(the funding history: about 30 settlements, ten days at 8 h) up to `slow_max_age_ns`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from scalp_nautilus.features import FeaturePipeline

log = logging.getLogger(__name__)

FORMAT = "scalp-nautilus warm state"
VERSION = 2  # 2: the compiled pipeline's state (issue 22); 1: the Python indicators' attributes


def save(path: str | Path, pipeline: FeaturePipeline, instrument_id: str, now_ns: int, extra: dict | None = None) -> None:
    """Write the state; `extra`: more top-level entries (the kill switch's ``"halt"``, `risk.halt_record`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "format": FORMAT,
        "version": VERSION,
        "instrument_id": instrument_id,
        "saved_ns": now_ns,
        "pipeline": pipeline.state(),
        **(extra or {}),
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(body))
    os.replace(tmp, path)


def update(path: str | Path, entries: dict) -> None:
    """Replace top-level entries of the file (the kill switch's halt, the saved position), keeping
    the rest; an unreadable file keeps only `entries` (its warm state is lost with it)."""
    path = Path(path)
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError):
        body = None
    if not isinstance(body, dict):
        body = {}
    body.update(entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(body))
    os.replace(tmp, path)


def restore(
    path: str | Path, pipeline: FeaturePipeline, instrument_id: str, now_ns: int, max_age_ns: int, slow_max_age_ns: int = 0
) -> str | None:
    """Restore `pipeline` from the file; returns None when every indicator was restored, else what
    was not and why (the indicators restored, if any, continue). `slow_max_age_ns`: the slow
    state's age limit (at most `max_age_ns`: the fast state's)."""
    path = Path(path)
    if not path.exists():
        return f"no saved state at {path}"
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return f"{path} cannot be read ({exc})"
    if isinstance(body, dict) and body.get("format") == FORMAT and body.get("version") == 1:
        # not migrated: its windows would have to be replayed into the compiled state, while the
        # indicators warm up again in minutes (the funding history: see `funding_history_days`)
        return f"{path} was saved by the pipeline before it was compiled (version 1): not carried over"
    if not isinstance(body, dict) or body.get("format") != FORMAT or body.get("version") != VERSION:
        return f"{path} is not a {FORMAT} file of version {VERSION}"
    if body.get("instrument_id") != instrument_id:
        return f"{path} holds the state of {body.get('instrument_id')}, not {instrument_id}"
    age_ns = now_ns - int(body.get("saved_ns", 0))
    slow_max_age_ns = max(slow_max_age_ns, max_age_ns)
    if not 0 <= age_ns <= slow_max_age_ns:
        return (
            f"{path} is {age_ns / 1e9:.0f} s old (max {max_age_ns / 1e9:.0f} s, the slow state's {slow_max_age_ns / 1e9:.0f} s)"
        )
    slow_only = age_ns > max_age_ns
    try:
        cold = pipeline.restore(body["pipeline"], slow_only=slow_only)
    except (ValueError, KeyError, TypeError) as exc:
        return f"{path} does not fit this pipeline ({exc})"
    if not cold:
        return None
    kept = sorted(set(pipeline.initialized) - set(cold))
    if slow_only:
        why = f"{path} is {age_ns / 1e9:.0f} s old (max {max_age_ns / 1e9:.0f} s)"
        return f"{why}: only the slow state ({', '.join(kept) or 'none'}) restored"
    reasons = "; ".join(f"{name}: {why}" for name, why in sorted(cold.items()))
    return f"restored {', '.join(kept) or 'nothing'}; cold: {reasons}"
