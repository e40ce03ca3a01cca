"""`sitcen simulate`: simulated CON traffic with delivery faults, and its two-layer ground truth."""

from __future__ import annotations

import argparse
import shutil
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sitcen.cli import UserError

FAULTS = (
    ("duplicates", "duplicates", "the same event again (same event_id, identical line), delivered later"),
    ("out-of-order", "out_of_order", "delivered after newer events, within the out-of-orderness bound"),
    ("late-allowed", "late_allowed", "older than the out-of-orderness bound but within the allowed lateness"),
    ("late", "too_late", "beyond the allowed lateness (too late: excluded from the expected rows)"),
    ("malformed", "malformed", "extra bad lines, every validator dead-letter code in rotation"),
    ("service-mismatch", "service_mismatch", "extra events of existing tickets carrying another service"),
)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction between 0 and 1")
    return value


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def register(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "examples:\n"
        "  sitcen simulate --branches 162 --date 2026-11-24 --out day.jsonl\n"
        "  sitcen simulate --branches spec-almaty,ala-almaly --days 2 --duplicates 0.02 --late 0.005 "
        "--malformed 0.01 --out faulty.jsonl\n"
        '  sitcen simulate --branches 5 --incident "spec-almaty theory_exam 10:00-12:00 capacity 1" \\\n'
        "      --out incident.jsonl\n"
        "The ground truth is written beside the output, in FILE.jsonl.truth/ (see docs/simulator.md)."
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    g = parser.add_argument_group("world")
    g.add_argument("--branches", default="162", metavar="N|ID,ID,...",
                   help="how many connected branches (specialized first, then catalog order) or a comma list "
                        "of branch ids (default: 162, all connected)")
    g.add_argument("--date", type=_date, default=None, metavar="YYYY-MM-DD",
                   help="first local date to simulate (default: today in Asia/Almaty)")
    g.add_argument("--days", type=int, default=1, help="number of consecutive days (default: 1)")
    g.add_argument("--seed", type=int, default=7, help="random seed; same arguments, same bytes (default: 7)")
    g.add_argument("--sla", metavar="FILE", default=None, help="SLA configuration (default: the shipped one)")
    g.add_argument("--incident", action="append", default=[], metavar="SPEC",
                   help='a resource down or degraded, e.g. "spec-almaty theory_exam 10:00-12:00 capacity 1"; '
                        "form: BRANCH STAGE [YYYY-MM-DD] HH:MM-HH:MM (capacity N | down | slow F); repeatable")
    f = parser.add_argument_group("delivery faults (fractions of the ticket events, default 0)")
    for flag, _name, help_text in FAULTS:
        f.add_argument(f"--{flag}", type=_fraction, default=0.0, metavar="F", help=help_text)
    o = parser.add_argument_group("output")
    o.add_argument("--out", metavar="FILE.jsonl", help="write events in delivery order to this file")
    o.add_argument("--kafka", metavar="BOOTSTRAP", help="produce to Kafka (not available yet)")
    o.add_argument("--topic", metavar="T", help="Kafka topic (with --kafka)")
    o.add_argument("--rate", type=_positive, metavar="EVENTS_PER_S", help="pace Kafka output (not available yet)")
    o.add_argument("--speed", type=_positive, metavar="X", help="pace Kafka output at X times real time "
                                                                 "(not available yet)")
    o.add_argument("--quiet", action="store_true", help="no progress bar, no summary")


def _today_local() -> date:
    return datetime.now(ZoneInfo("Asia/Almaty")).date()


def run(args: argparse.Namespace) -> int:
    from simulators.faults import FaultPlan
    from simulators.incidents import IncidentError, parse_incident
    from simulators.output import OutputNotAvailable, open_output
    from simulators.scenario import Scenario, ScenarioError
    from simulators.scenario import run as run_scenario

    if not args.out:
        if args.kafka or args.rate or args.speed:
            raise UserError("Kafka output (--kafka/--topic, --rate, --speed) is not available yet; "
                            "write a file with --out FILE.jsonl")
        raise UserError("give --out FILE.jsonl")
    if args.kafka or args.rate or args.speed:
        print("sitcen simulate: --kafka/--rate/--speed are not available yet; writing only --out",
              file=sys.stderr)
    try:
        incidents = [parse_incident(text) for text in args.incident]
    except IncidentError as exc:
        raise UserError(str(exc)) from None
    plan = FaultPlan(**{name: getattr(args, name.replace("too_late", "late")) for _flag, name, _h in FAULTS})
    scn = Scenario(branches=args.branches, start=args.date or _today_local(), days=args.days, seed=args.seed,
                   sla=args.sla, incidents=incidents, faults=plan)

    out = Path(args.out)
    truth_dir = Path(f"{out}.truth")
    if truth_dir.is_dir() and ((truth_dir / "faults.json").exists() or (truth_dir / "world").is_dir()):
        shutil.rmtree(truth_dir)  # a previous truth for this file: never mix two runs
    try:
        writer = open_output(out=str(out))
    except (OutputNotAvailable, OSError) as exc:
        raise UserError(str(exc)) from None

    bar = None
    if not args.quiet:
        try:
            from tqdm import tqdm

            bar = tqdm(unit=" branch-days", file=sys.stderr, disable=not sys.stderr.isatty(), desc="simulating")
        except ImportError:  # pragma: no cover - tqdm is a dependency
            bar = None
    try:
        result = run_scenario(scn, writer, truth_dir, progress=bar)
    except ScenarioError as exc:
        writer.close()
        out.unlink(missing_ok=True)
        raise UserError(str(exc)) from None
    finally:
        if bar is not None:
            bar.close()
    if not args.quiet:
        print(format_summary(result, scn, out, truth_dir))
    return 0


def format_summary(result, scn, out: Path, truth_dir: Path) -> str:
    s = result.summary
    w = s["world"]
    t = result.timings
    gen_s = t["world_s"] + t["delivery_s"] + t["write_s"]
    pct = 100.0 * w["breached"] / w["tickets"] if w["tickets"] else 0.0

    def kv(d: dict) -> str:
        return ", ".join(f"{k} {v}" for k, v in d.items()) or "none"

    days = f"{scn.days} day{'s' if scn.days > 1 else ''}"
    rep = result.delivery.report
    faults = {}
    for name in ("duplicates", "out_of_order", "late_allowed", "too_late", "malformed", "service_mismatch"):
        got, want = rep[name]["count"], rep[name]["requested"]
        if want:
            faults[name] = got if got == want else f"{got} (of {want} requested: not enough eligible events)"
    lines = [
        f"simulated {len(result.branches)} branches x {days} from {scn.start.isoformat()}, seed {scn.seed}",
        f"  tickets {w['tickets']}: {kv(w['tickets_by_service'])}",
        f"  status: {kv(w['tickets_by_status'])}",
        f"  breached {w['breached']} ({pct:.1f}%) by responsible: {kv(w['breached_by_responsible'])}; "
        f"stage/ticket overruns: {kv(w['overruns_by_responsible'])}",
        f"  licenses issued {w['licenses_issued']}",
        f"  events {result.world_events} ({w['ticket_events']} ticket events, {s['heartbeats']} heartbeats); "
        f"{result.lines} lines written to {out}",
        f"  faults injected: {kv(faults)}",
        f"  expected: {s['tickets']} tickets, dead letters {s['dead_letters']}, too late {s['too_late']}, "
        f"duplicates {s['duplicates']}",
        f"  generated in {gen_s:.2f} s ({result.world_events / gen_s:,.0f} events/s); truth in {t['truth_s']:.2f} s",
        f"  truth: {truth_dir}/ (world/, expected/, faults.json)",
    ]
    return "\n".join(lines)
