"""`sitcen verify` — compare ClickHouse with a simulator ground truth; exit 1 on any difference."""

from __future__ import annotations

import argparse
import json

from sitcen.cli import UserError


def register(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Compares tickets, stage attempts, standing alerts, branch-minute counts, dead letters by code and the "
        "too-late count with the truth's expected/ layer (withdrawn alerts are counted, not compared). "
        "Exit status: 0 everything matches, 1 differences, 2 usage error. "
        "Example: sitcen verify --truth .sitcen/data/day.jsonl.truth"
    )
    parser.add_argument("--truth", metavar="DIR", required=True,
                        help="the truth directory written by `sitcen simulate` (FILE.jsonl.truth/)")
    parser.add_argument("--clickhouse", metavar="DSN",
                        help="chdb:///abs/path, chdb://memory or http(s)://user:pw@host:port[/db] "
                             "(default: embedded store under ./.sitcen/store)")
    parser.add_argument("--format", choices=["text", "json"], default="text",
                        help="text for people (default), json for load-test pipelines")
    parser.add_argument("--examples", type=int, default=5, metavar="N",
                        help="example rows shown per kind of difference (default 5)")


def run(args: argparse.Namespace) -> int:
    from sinks import schema
    from sinks.clickhouse import ClickHouseError, connect
    from sinks.verify import TruthError, expected_dir, format_text, verify

    if args.examples < 0:
        raise UserError("--examples must be 0 or more")
    try:
        expected_dir(args.truth)  # a bad --truth is a usage error before any store is opened
    except TruthError as exc:
        raise UserError(str(exc)) from None
    try:
        client = connect(args.clickhouse)
    except ClickHouseError as exc:
        raise UserError(str(exc)) from None
    try:
        if client.embedded:
            schema.ensure(client)  # a new embedded store compares as empty tables, not as an error
        result = verify(client, args.truth, examples=args.examples)
    except (TruthError, ClickHouseError) as exc:
        raise UserError(str(exc)) from None
    finally:
        client.close()
    if args.format == "json":
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        print(format_text(result))
    return 0 if result.ok else 1
