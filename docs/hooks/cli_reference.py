"""The command-line reference, generated from `scalp-nautilus`'s argument parser (`scalp_nautilus.cli`).

Every command and sub-command gets its help line, its usage as argparse prints it, and a table of
its arguments (flags, default, help), so the page always matches `--help`.
"""

from __future__ import annotations

import argparse
import functools

from scalp_nautilus.cli import _parser
from scalp_nautilus.cli import subcommands


def undocumented(root: argparse.ArgumentParser | None = None) -> list[str]:
    """ "command: option" for every argument (option or positional) of every command without a help text."""
    root = _parser() if root is None else root
    out = []
    for line, _, sub in [("scalp-nautilus", "", root), *subcommands(root)]:
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction) or (action.help or "").strip():
                continue
            out.append(f"{line}: {'/'.join(action.option_strings) or action.dest}")
    return out


def _runs(parser: argparse.ArgumentParser) -> bool:
    return parser.get_default("run") is not None


def _flags(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`" + (" ..." if action.nargs in ("+", "*") else "")
    names = ", ".join(f"`{o}`" for o in action.option_strings)
    if action.nargs == 0:
        return names
    metavar = action.metavar or (action.dest.upper() if not action.choices else "{" + ",".join(map(str, action.choices)) + "}")
    if isinstance(metavar, tuple):
        metavar = " ".join(metavar)
    if isinstance(action.nargs, int):
        value = " ".join([metavar] * action.nargs)
    else:
        value = {"+": f"{metavar} ...", "*": f"[{metavar} ...]", "?": f"[{metavar}]"}.get(action.nargs or "", metavar)
    return f"{names} `{value}`"


def _default(action: argparse.Action) -> str:
    if action.required:
        return "required"
    if action.nargs == 0 or action.default in (None, argparse.SUPPRESS):
        return ""
    value = action.default
    if isinstance(value, list | tuple):
        value = " ".join(map(str, value))
    return f"`{value}`"


def _help(action: argparse.Action) -> str:
    text = action.help or ""
    if "%(default)s" in text:
        text = text % {"default": action.default}
    return " ".join(text.split()).replace("|", "\\|")


def render() -> str:
    root = _parser()
    out = [
        "# Command-line reference",
        "",
        "Generated from the argument parser (`scalp_nautilus/cli.py`) when the site is built "
        "(`docs/hooks/cli_reference.py`); `scalp-nautilus COMMAND --help` prints the same.",
        "Every command takes `-v` / `--verbose` before it (debug logging and full tracebacks), e.g.",
        "`scalp-nautilus -v backtest`.",
        "",
    ]
    listing = [(line, text, sub) for line, text, sub in subcommands(root) if _runs(sub)]
    out += ["| command | what it does |", "|---|---|"]
    out += [f"| [`{line}`](#{_slug(line)}) | {_help_text(text)} |" for line, text, _ in listing]
    for line, text, sub in listing:
        out += ["", f"## `{line}` {{ #{_slug(line)} }}", "", _help_text(text), ""]
        # A fixed width: the page must not depend on the terminal that builds it.
        sub.formatter_class = functools.partial(sub.formatter_class, width=100)
        usage = sub.format_usage().removeprefix("usage: ").strip()
        out += ["```", usage, "```", ""]
        actions = [a for a in sub._actions if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)]
        if actions:
            out += ["| argument | default | description |", "|---|---|---|"]
            out += [f"| {_flags(a)} | {_default(a)} | {_help(a)} |" for a in actions]
    return "\n".join(out) + "\n"


def _help_text(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _slug(line: str) -> str:
    return line.removeprefix("scalp-nautilus ").replace(" ", "-")
