"""`python -m harness.sim`: the same as `python -m harness sim` (one parser, in harness.cli)."""

from __future__ import annotations

import sys

from ..cli import main

if __name__ == "__main__":
    raise SystemExit(main(["sim", *sys.argv[1:]]))
