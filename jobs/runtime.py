"""PyFlink's Python runtime for thread mode, imported without Apache Beam.

`pyflink/fn_execution/__init__.py` imports Apache Beam — and with it pandas and pyarrow, over a
second of CPU here — only to find out whether Beam's Cython coders load. Those coders serve process
mode's Python workers; in thread mode neither the client (which only builds the operator's protobuf
description) nor the TaskManager's embedded interpreter (which hands records over through PemJa)
encodes anything with them. `preload` registers the package without running that file, with
`PYFLINK_CYTHON_ENABLED` False (what it would say were Beam missing), then imports `modules`.
Anything that still wants Beam simply imports it. Process mode keeps PyFlink's own import.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Iterable

PACKAGE = "pyflink.fn_execution"


def preload(modules: Iterable[str] = ()) -> None:
    """Import `modules`, the package `pyflink.fn_execution` registered without its Beam probe
    unless something imported it already."""
    if PACKAGE not in sys.modules:
        spec = importlib.util.find_spec(PACKAGE)
        if spec is not None:
            package = importlib.util.module_from_spec(spec)
            package.PYFLINK_CYTHON_ENABLED = False
            sys.modules[PACKAGE] = package
            setattr(importlib.import_module("pyflink"), "fn_execution", package)
    for name in modules:
        importlib.import_module(name)
