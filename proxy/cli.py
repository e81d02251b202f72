"""The `morpheus-proxy` command line."""

from __future__ import annotations

import sys


def main() -> None:
    print("morpheus-proxy: not implemented yet", file=sys.stderr)
    sys.exit(1)
