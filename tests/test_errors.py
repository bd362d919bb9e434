"""The command line catches only the project's own errors (`scalp_nautilus.errors`): one of them is
one `error:` line and exit code 1 (with `-v`, its traceback); anything else is a bug and propagates
with its traceback. And every error type the package defines for its users is one of them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from scalp_nautilus import cli
from scalp_nautilus.errors import InputError
from scalp_nautilus.errors import ScalpError

ROOT = Path(__file__).resolve().parents[1]
# Exceptions the package raises for itself, never to a user: each is caught where it is raised or is a bug.
INTERNAL = {
    "LegError": "an order-logic transition the legs do not allow: a bug",
    "Rejected": "the replay venue's refusal, answered to the client in the API's terms",
    "Refusal": "the replay venue's refusal of a request, answered in the API's terms",
    "_Refused": "the Binance API module's refusal, answered in Binance's terms",
    "_RestError": "a capture's REST call that failed, retried and counted",
    "WriteFailed": "a capture file that cannot be written, counted and alerted",
    "StreamDamaged": "a damaged gzip stream, counted by the importers",
    "StreamEnded": "a gzip stream cut short, counted by the importers",
    "_NotFound": "an archive day not published (HTTP 404), reported in the download's summary",
}
OURS = {"ScalpError", "InputError", "MissingFileError", "NotFoundError", "RunError"}


def _run_raising(monkeypatch, exc: Exception, *flags: str) -> int:
    def run(args):
        raise exc

    parser = cli._parser("data")
    monkeypatch.setattr(cli, "_parser", lambda command=None: parser)
    parser.set_defaults(run=run)
    return cli.main([*flags, "data"])


def test_a_project_error_is_one_line(monkeypatch, capsys):
    assert _run_raising(monkeypatch, InputError("configs/x.yaml: key `a`: expected `int`")) == 1
    assert capsys.readouterr().err == "error: configs/x.yaml: key `a`: expected `int`\n"
    with pytest.raises(InputError):  # -v: the traceback too
        _run_raising(monkeypatch, InputError("bad"), "-v")


def test_a_bug_shows_its_traceback(monkeypatch):
    for bug in (KeyError("x"), ValueError("bad"), RuntimeError("boom"), FileNotFoundError("gone")):
        with pytest.raises(type(bug)):
            _run_raising(monkeypatch, bug)


def test_every_user_facing_error_type_is_a_scalp_error():
    defined: dict[str, tuple[list[str], str]] = {}
    for path in (ROOT / "scalp_nautilus").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]
                defined[node.name] = (bases, str(path.relative_to(ROOT)))

    def is_exception(name: str, seen=()) -> bool:
        if name.endswith(("Error", "Exception", "Failed")) and name not in defined:
            return True  # a builtin or library exception
        return name in defined and name not in seen and any(is_exception(b, (*seen, name)) for b in defined[name][0])

    def ours(name: str) -> bool:
        return name in OURS or (name in defined and any(ours(b) for b in defined[name][0]))

    wrong = {
        name: where for name, (_, where) in defined.items() if is_exception(name) and name not in INTERNAL and not ours(name)
    }
    assert not wrong, f"error types a user can see that are not ScalpErrors (or list them in INTERNAL): {wrong}"
    assert issubclass(InputError, ScalpError) and issubclass(InputError, ValueError)
