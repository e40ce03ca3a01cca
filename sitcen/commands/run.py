"""`sitcen run` — the SLA job over a JSONL file on the embedded mini-cluster, into ClickHouse."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
import uuid
from pathlib import Path

from sitcen.cli import UserError


def register(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Example: sitcen run --input .sitcen/data/day.jsonl   "
        "(reads the file through the PyFlink job on Flink's local mini-cluster and writes every table "
        "of database `sitcen` into the embedded store ./.sitcen/store)"
    )
    src = parser.add_argument_group("source")
    src.add_argument("--input", metavar="FILE.jsonl", help="JSONL file of events (DESIGN §3), one per line")
    src.add_argument("--kafka", metavar="BOOTSTRAP", help="read from Kafka instead (cluster mode; not in this version)")
    parser.add_argument("--clickhouse", metavar="DSN", help="chdb:///abs/path, chdb://memory or http(s)://user:pw@host:port "
                        "(default: embedded store under ./.sitcen/store)")
    parser.add_argument("--sla", metavar="FILE", help="SLA configuration (default: the shipped defaults)")
    tuning = parser.add_argument_group("tuning")
    tuning.add_argument("--parallelism", type=int, default=1, help="operator parallelism (default 1)")
    tuning.add_argument("--python-mode", choices=["thread", "process"], default="thread",
                        help="PyFlink Python execution mode (default thread: the fastest here)")
    tuning.add_argument("--checkpoint-interval", type=float, default=5.0, metavar="S",
                        help="seconds between checkpoints, i.e. between loads into ClickHouse (default 5)")
    tuning.add_argument("--ticket-buckets", type=int, default=128, metavar="N",
                        help="buckets the tickets are gathered in, the ticket operator's keys (default 128; "
                             "a savepoint restores only into the same number)")
    tuning.add_argument("--watermark-step", type=float, default=14400.0, metavar="S",
                        help="emit a watermark whenever event time moved on S seconds, besides once a second "
                             "(default 14400: a fast replay drains state and fires timers every four hours of "
                             "event time; 0: once a second only). Answers are the same for any value; more watermarks "
                             "cost the ticket operator more calls")
    tuning.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                        help="a Flink configuration option for the job (repeatable), e.g. "
                             "--conf pipeline.auto-watermark-interval=200ms")
    tuning.add_argument("--jvm-heap", default="1536m", help="JVM heap cap of the mini-cluster (default 1536m)")
    parser.add_argument("--work-dir", metavar="DIR", help="where the job's output part files go (default .sitcen/runs/<id>)")
    parser.add_argument("--keep-outputs", action="store_true", help="keep the job's part files after loading them")
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def run(args: argparse.Namespace) -> int:
    from jobs.embedded import JobFailed, JobSettings, Startup
    from jobs.embedded import run as run_job
    from jobs.sla.config import SlaConfigError, load
    from jobs.tuning import Tuning
    from schemas.catalog import load_catalog, to_rows
    from sinks import schema
    from sinks.clickhouse import ClickHouseError, connect, parse_dsn
    from sinks.loader import OutputLoader

    if args.kafka:
        raise UserError("--kafka (cluster mode) is not available in this version; use --input FILE.jsonl")
    if not args.input:
        raise UserError("say what to read: --input FILE.jsonl (make one with `sitcen simulate --out FILE.jsonl`)")
    source = Path(args.input)
    if not source.is_file():
        raise UserError(f"input file not found: {source}")
    if args.parallelism < 1:
        raise UserError("--parallelism must be at least 1")
    if args.ticket_buckets < 1:
        raise UserError("--ticket-buckets must be at least 1")
    if args.watermark_step < 0:
        raise UserError("--watermark-step must be 0 (periodic watermarks only) or more seconds")
    try:
        cfg = load(args.sla)
    except SlaConfigError as exc:
        raise UserError(f"bad SLA configuration: {exc}") from None

    extra = {}
    for item in args.conf:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--conf wants KEY=VALUE, got {item!r}")
        extra[key.strip()] = value.strip()
    settings = JobSettings(parallelism=args.parallelism, execution_mode=args.python_mode,
                           checkpoint_interval_ms=int(args.checkpoint_interval * 1000), jvm_heap=args.jvm_heap,
                           tuning=Tuning(buckets=args.ticket_buckets, watermark_step_ms=int(args.watermark_step * 1000)),
                           extra=extra)
    try:
        parse_dsn(args.clickhouse)  # a mistyped DSN is said before anything starts
    except ClickHouseError as exc:
        raise UserError(str(exc)) from None
    startup = Startup(settings)  # the JVM, the mini-cluster and the Python runtime start while the job is wired
    run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    work = Path(args.work_dir) if args.work_dir else Path(".sitcen/runs") / run_id
    progress = _Progress(quiet=args.quiet or not sys.stderr.isatty())
    loaded: dict[str, int] = {}
    store: dict = {}

    def prepare_store() -> None:
        """While the mini-cluster starts: the store, its branch catalog, the input's size."""
        try:
            client = connect(args.clickhouse)
            schema.ensure(client)
            schema.load_branches(client, to_rows(load_catalog()))
        except ClickHouseError as exc:
            raise UserError(str(exc)) from None
        store.update(client=client, loader=OutputLoader(client, work), lines=_count_lines(source))
        print(f"sitcen run {run_id}: {source} ({store['lines']:,} lines) → {client.dsn.display()}", file=sys.stderr)

    def poll() -> None:
        if "loader" not in store:
            return
        for table, n in store["loader"].load_new().items():
            loaded[table] = loaded.get(table, 0) + n
        progress.update(loaded)

    try:
        wall = run_job(str(source), work, cfg, run_id, settings, poll=poll, while_starting=prepare_store,
                       startup=startup)
    except JobFailed as exc:
        progress.close()
        raise UserError(f"the job failed: {exc} (Flink's log: .venv/lib/python3.11/site-packages/pyflink/log/)") from None
    client, lines_total = store["client"], store["lines"]
    poll()
    progress.close()
    schema.compact(client)  # merge to the latest rows: same answers, faster dashboards
    from sitcen.summary import run_summary

    print(run_summary(client, run_id, lines_total, wall, loaded))
    if not args.keep_outputs and not args.work_dir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _count_lines(path: Path) -> int:
    n = 0
    last = b""
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            n += chunk.count(b"\n")
            last = chunk
    return n + (1 if last and not last.endswith(b"\n") else 0)


class _Progress:
    """A one-line progress display of rows landed in ClickHouse while the job runs."""

    def __init__(self, quiet: bool):
        self.bar = None
        if not quiet:
            from tqdm import tqdm

            self.bar = tqdm(total=None, unit=" rows", desc="loading", file=sys.stderr, leave=False)

    def update(self, loaded: dict[str, int]) -> None:
        if self.bar is None:
            return
        total = sum(loaded.values())
        self.bar.n = total
        self.bar.set_postfix_str(
            " ".join(f"{k}={v:,}" for k, v in sorted(loaded.items()) if k in ("tickets", "alerts", "dead_letters")),
            refresh=False,
        )
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
