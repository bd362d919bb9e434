"""Copies of the shipped YAML configs with changes (now in `tests.support.configs`)."""

from tests.support.configs import ROOT  # noqa: F401
from tests.support.configs import write_config  # noqa: F401
