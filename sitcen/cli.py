"""`sitcen` command line: parses arguments, wires the parts, prints. No business logic here."""

from __future__ import annotations

import argparse
import gc
import importlib
import sys

from sitcen import __version__

# (name, module, one-line help). Each module has `register(parser)` and `run(args) -> int`.
COMMANDS = [
    ("simulate", "sitcen.commands.simulate", "generate simulated CON traffic with faults and a ground truth"),
    ("run", "sitcen.commands.run", "run the SLA job (embedded mini-cluster by default) into ClickHouse"),
    ("verify", "sitcen.commands.verify", "compare ClickHouse with a simulator ground truth"),
    ("report", "sitcen.commands.report", "print the Situation Center report from ClickHouse"),
    ("submit", "sitcen.commands.submit", "submit the SLA job to a Flink cluster"),
]


class UserError(Exception):
    """An error the person at the keyboard can fix; printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sitcen",
        description="Real-time Situation Center for CON branches: simulate traffic, run the PyFlink SLA job "
        "into ClickHouse, verify it against the ground truth, and report.",
    )
    parser.add_argument("--version", action="version", version=f"sitcen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module, help_text in COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        mod = importlib.import_module(module)
        mod.register(p)
        p.set_defaults(_module=mod)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    finally:
        # Nothing of ours needs the interpreter's final collection at exit, which would walk every
        # object PyFlink, Apache Beam, pandas and chDB loaded: about half a second of every command.
        gc.freeze()


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._module.run(args) or 0)
    except UserError as exc:
        print(f"sitcen {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sitcen {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
