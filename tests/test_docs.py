"""The generated reference pages: no config key and no command-line argument without
documentation, every config file and command covered. (`mkdocs build --strict`, in .ci/run, checks the links and pages.)"""

from __future__ import annotations

import argparse
import fnmatch
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import msgspec

from scalp_nautilus.cli import _parser
from scalp_nautilus.cli import subcommands

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


def test_every_command_option_has_help():
    missing = cli_reference.undocumented()
    assert not missing, (
        "command-line arguments without help= (scalp_nautilus/cli.py or the module registering the command):\n  "
        + ("\n  ".join(missing))
    )


def test_an_option_without_help_is_caught():
    root = argparse.ArgumentParser(prog="scalp-nautilus")
    root.add_argument("--top", help="documented")
    cmds = root.add_subparsers()
    data = cmds.add_parser("data", help="a group").add_subparsers()
    leaf = data.add_parser("leaf", help="a command")
    leaf.add_argument("files", nargs="+")
    leaf.add_argument("--bare", type=int, default=3)
    leaf.add_argument("--blank", help=" ")
    leaf.add_argument("--fine", help="documented")
    assert cli_reference.undocumented(root) == [
        "scalp-nautilus data leaf: files",
        "scalp-nautilus data leaf: --bare",
        "scalp-nautilus data leaf: --blank",
    ]


def test_every_command_help_renders_with_its_defaults():
    """`COMMAND --help` of every command formats (a stray % in a help text would raise), and shows
    an option's default unless it has none."""
    texts = {line: sub.format_help() for line, _, sub in subcommands(_parser())}
    assert len(texts) >= 20
    assert "span of the simulated market in minutes, from 2024-01-01 23:30 UTC (default: 60.0)" in " ".join(
        texts["scalp-nautilus data simulate"].split()
    )
    sweep = " ".join(texts["scalp-nautilus sweep"].split())
    assert "(default: configs/sweep.yaml)" in sweep and "(default: None)" not in sweep


def _unknown_options(text: str, where: str) -> list[str]:
    """The `--options` of the `scalp-nautilus` command lines in `text`'s ```bash blocks that their
    command does not have (a renamed or removed option the prose still shows), and unknown commands.
    Placeholders such as `[--catalog PATH]` or `--labels forward|smoothed` are read too."""
    import re

    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            m = re.match(r"\s*(?:\S*/)?scalp-nautilus\s+(.*)", line.split(" # ")[0])
            if not m:
                continue
            parser, path = _parser(), "scalp-nautilus"
            tokens = re.findall(r"[^\s\[\]|()]+", m.group(1))
            while tokens and not tokens[0].startswith("-"):
                choices = next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
                if choices is None:
                    break
                name = tokens.pop(0)
                if name not in choices:
                    out.append(f"{where}: {path} has no command {name!r}")
                    break
                parser, path = choices[name], f"{path} {name}"
            for token in tokens:
                flag = token.split("=")[0].rstrip(".,;:")
                if flag.startswith("-") and flag not in parser._option_string_actions and flag != "-":
                    out.append(f"{where}: {path} has no option {flag}")
    return out


def test_the_docs_command_lines_use_real_commands_and_options():
    pages = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
    found = [line for p in pages for line in _unknown_options(p.read_text(), p.name)]
    assert not found, "command lines in the docs that the parser does not accept:\n  " + "\n  ".join(found)
    probe = "```bash\nscalp-nautilus backtest --config c.yaml [--catalgo PATH]\n.venv/bin/scalp-nautilus data lst\n```\n"
    assert _unknown_options(probe, "probe") == [
        "probe: scalp-nautilus backtest has no option --catalgo",
        "probe: scalp-nautilus data has no command 'lst'",
    ]


def test_the_cli_reference_lists_every_command():
    page = cli_reference.render()
    lines = [line for line, _, sub in subcommands(_parser()) if sub.get_default("run")]
    assert len(lines) >= 15
    for line in lines:
        assert f"## `{line}`" in page
    assert "`--address` `ADDRESS`" in page
