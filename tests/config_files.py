"""Copies of the shipped YAML configs with changes (now in `scalp_nautilus.testing.configs`)."""

from scalp_nautilus.testing.configs import ROOT  # noqa: F401
from scalp_nautilus.testing.configs import write_config  # noqa: F401
