"""A fresh interpreter for the tests that measure what a process loads or prints on its own."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.shared_data import PROJECT_ROOT


def run_python(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -c code` in a new process that imports this checkout's package (nothing loaded yet,
    as at a command's or a Ray worker's start); its output as text, never raising on failure."""
    return subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
