"""Where delivered lines go. A writer has `write(event_dict_or_raw_line)` and `close()`.

JSONL files today; a Kafka writer (key = ticket_id, heartbeats to every partition, paced by
`--rate`/`--speed`) plugs in behind the same two methods.
"""

from __future__ import annotations

import os
from pathlib import Path

from simulators.events import dumps

_FLUSH_LINES = 8192


class JsonlWriter:
    """One compact JSON object per line, UTF-8, `\\n`-terminated, buffered."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "w", encoding="utf-8", newline="\n")
        self._buf: list[str] = []
        self.lines = 0

    def write(self, item: dict | str) -> None:
        self._buf.append(item if isinstance(item, str) else dumps(item))
        self.lines += 1
        if len(self._buf) >= _FLUSH_LINES:
            self._flush()

    def write_lines(self, lines) -> None:
        """Many pre-rendered lines at once (the simulator's bulk path)."""
        self._flush()
        buf = []
        for line in lines:
            buf.append(line)
            if len(buf) >= 65536:
                self._f.write("\n".join(buf))
                self._f.write("\n")
                self.lines += len(buf)
                buf.clear()
        if buf:
            self._f.write("\n".join(buf))
            self._f.write("\n")
            self.lines += len(buf)

    def _flush(self) -> None:
        if self._buf:
            self._f.write("\n".join(self._buf))
            self._f.write("\n")
            self._buf.clear()

    def close(self) -> None:
        self._flush()
        self._f.close()

    def __enter__(self) -> "JsonlWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class OutputNotAvailable(RuntimeError):
    pass


def open_output(out: str | None = None, kafka: str | None = None, topic: str | None = None):
    """The writer for the chosen output; Kafka is not built yet."""
    if out:
        return JsonlWriter(out)
    if kafka:
        raise OutputNotAvailable("Kafka output (--kafka/--topic, --rate, --speed) is not available yet; "
                                 "write a file with --out FILE.jsonl")
    raise OutputNotAvailable("no output: give --out FILE.jsonl")
