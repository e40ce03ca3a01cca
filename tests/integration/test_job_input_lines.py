"""How the job cuts a file into lines: every `\\n` ends a line, one trailing CR is a CRLF line
ending, an empty line is a line (a dead letter), and a last line without newline still counts.
Dead letters say where they came from: the file and the line number."""

from __future__ import annotations

import json

from tests.integration.conftest import Day, query, sitcen

D = Day()


def test_lines_are_cut_and_numbered_as_delivered(tmp_path, built):
    issued = {"event_id": "e1", "type": "ticket_issued", "ts": D.ts("09:00"), "branch_id": "spec-almaty",
              "ticket_id": "T1", "service": "driver_license"}
    heartbeat = {"event_id": "h1", "type": "heartbeat", "ts": D.ts("09:01"), "branch_id": "spec-almaty"}
    path = tmp_path / "lines.jsonl"
    path.write_bytes(json.dumps(issued).encode() + b"\r\n"      # 1: valid, CRLF
                     + b"\n"                                     # 2: empty
                     + b"\xff\n"                                 # 3: not UTF-8
                     + b'{"event_id": "x"\r\n'                   # 4: broken JSON, CRLF
                     + json.dumps(heartbeat).encode())           # 5: valid, no newline at the end
    dsn = f"chdb://{tmp_path / 'store'}"
    run = sitcen("run", "--input", str(path), "--clickhouse", dsn, "--quiet", cwd=tmp_path)
    dead, tickets = query(dsn, "SELECT source, offset, code, raw FROM sitcen.dead_letters FINAL ORDER BY offset",
                          "SELECT ticket_id FROM sitcen.tickets FINAL")
    assert [(d["offset"], d["code"], d["raw"]) for d in dead] == [
        (2, "invalid_json", ""), (3, "invalid_json", "\ufffd"), (4, "invalid_json", '{"event_id": "x"')]
    assert {d["source"] for d in dead} == {str(path.resolve())}
    assert [t["ticket_id"] for t in tickets] == ["T1"]
    summary = run.stdout.replace(",", "")
    assert "lines read                 5" in summary
    assert "valid events               2" in summary
