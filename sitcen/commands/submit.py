"""`sitcen submit` (not built yet)."""

from __future__ import annotations

import argparse
import sys


def register(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    print("sitcen submit: not built yet in this version", file=sys.stderr)
    return 3
