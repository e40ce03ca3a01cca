"""`sitcen report` — the Situation Center report from ClickHouse (the eight question files)."""

from __future__ import annotations

import argparse
import json

from sitcen.cli import UserError


def register(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "A national headline (tickets, completed, within standard, breaches by party, licenses) and the "
        "sections of the eight questions (sinks/sql/q1..q8.sql). Example: sitcen report --day 2026-11-24 --top 5"
    )
    parser.add_argument("--clickhouse", metavar="DSN",
                        help="chdb:///abs/path, chdb://memory or http(s)://user:pw@host:port[/db] "
                             "(default: embedded store under ./.sitcen/store)")
    parser.add_argument("--day", metavar="YYYY-MM-DD", help="the local day to report (default: the latest day with data)")
    parser.add_argument("--branch", metavar="ID", help="one branch only (default: every branch)")
    parser.add_argument("--format", choices=["text", "json"], default="text", help="text (default) or json")
    parser.add_argument("--top", type=int, default=5, metavar="N", help="rows per ranked section (default 5)")


def run(args: argparse.Namespace) -> int:
    from sinks.clickhouse import ClickHouseError, connect
    from sinks.report import ReportError, build, format_text, to_json

    try:
        client = connect(args.clickhouse)
    except ClickHouseError as exc:
        raise UserError(str(exc)) from None
    try:
        report = build(client, day=args.day, branch=args.branch, top=args.top)
    except (ReportError, ClickHouseError) as exc:
        raise UserError(str(exc)) from None
    finally:
        client.close()
    if args.format == "json":
        print(json.dumps(to_json(report), ensure_ascii=False, indent=2))
    else:
        print(format_text(report))
    return 0
