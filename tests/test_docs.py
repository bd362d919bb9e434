"""The generated reference pages: no config key without documentation, every config file and
command covered. (`mkdocs build --strict`, in .ci/run, checks the links and pages.)"""

from __future__ import annotations

import fnmatch
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import msgspec

ROOT = Path(__file__).resolve().parent.parent
HOOKS = ROOT / "docs" / "hooks"


def _load(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HOOKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


config_reference = _load("config_reference")
cli_reference = _load("cli_reference")


def test_every_config_key_is_documented():
    missing = config_reference.undocumented()
    assert not missing, (
        "config keys without documentation (add a comment where the field is declared, or "
        "Meta(description=...)):\n  " + "\n  ".join(missing)
    )


class _Nested(msgspec.Struct, frozen=True):
    """A nested section."""

    inner: int = 1  # documented
    bare_inner: int = 2


class _Probe(msgspec.Struct, frozen=True):
    # documented above
    above: int = 1
    trailing: float = 0.5  # documented at the end of the line
    bare: str = "x"
    section: _Nested = msgspec.field(default_factory=_Nested)


def test_an_undocumented_key_is_caught():
    root = config_reference.Root("Probe", "probe.yaml", f"{__name__}:_Probe", "a probe")
    assert config_reference.undocumented([root]) == [
        f"probe.yaml: bare ({__name__}._Probe)",
        f"probe.yaml: section.bare_inner ({__name__}._Nested)",
    ]
    described = {k.key: k.description for k in config_reference.keys(_Probe)}
    assert described["above"] == "documented above"
    assert described["trailing"] == "documented at the end of the line"
    assert described["section"] == "A nested section."  # a section without a comment: its class docstring


def test_every_config_file_has_a_reference_root():
    patterns = [root.files for root in config_reference.ROOTS]
    files = sorted((ROOT / "configs").glob("*.yaml"))
    unmatched = [p.name for p in files if not any(fnmatch.fnmatch(p.name, g) for g in patterns)]
    assert not unmatched, f"configs without a config_reference.ROOTS entry: {unmatched}"


def test_the_reference_shows_types_ranges_and_defaults():
    page = config_reference.render()
    # A key of a nested section: its range from Meta(gt=0), its default, its comment.
    assert "| `stop_k` | float > 0.0 | `2.0` | Stop distance in sigmas" in page
    assert "| `volume_per_hour` | float > 0.0 | required | Expected traded volume per hour" in page
    assert "| `entry` | `maker` \\| `taker` | `taker` | Taker: IOC limit" in page


def test_the_cli_reference_lists_every_command():
    page = cli_reference.render()
    lines = [line for line, _, sub in cli_reference.commands(cli_reference._parser()) if sub.get_default("run")]
    assert len(lines) >= 15
    for line in lines:
        assert f"## `{line}`" in page
    assert "`--address` `ADDRESS`" in page
