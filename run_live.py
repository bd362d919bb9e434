#!/usr/bin/env python3
"""Same as `scalp-nautilus live ...`."""

import sys

from scalp_nautilus.cli import main

if __name__ == "__main__":
    sys.exit(main(["live", *sys.argv[1:]]))
