#!/usr/bin/env python3
"""Same as `scalp-nautilus backtest ...`."""

import sys

from scalp_nautilus.cli import main

if __name__ == "__main__":
    sys.exit(main(["backtest", *sys.argv[1:]]))
