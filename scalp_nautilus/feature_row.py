"""The feature row's type, generated from the feature table (`scalp_nautilus.feature_table`).

The type checker reads `feature_row.pyi`, generated from the same table, since it cannot follow a
generated class."""

from __future__ import annotations

from collections import namedtuple

from scalp_nautilus.feature_table import COLUMNS

FeatureSnapshot = namedtuple(  # generated: the table gives the names, types and defaults
    "FeatureSnapshot", [c.name for c in COLUMNS], defaults=[c.default for c in COLUMNS if c.has_default], module=__name__
)
FeatureSnapshot.__doc__ = "All current feature values (one recorder row); see `scalp_nautilus.feature_table`."
FeatureSnapshot.__annotations__ = {c.name: c.kind for c in COLUMNS}
