"""The job's JVM-side helpers: Java functions compiled from `jobs/udf/java/` into one jar.

Decoding and validating every line happens in the JVM (one JSON parse per line), because a
per-line Python call costs more than the rest of the pipeline put together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

#: Java class of the table function `validate_event` (see docs/contract.md).
VALIDATE_EVENT_CLASS = "sitcen.udf.ValidateEvent"


def flink_lib_dir() -> Path:
    """The directory of the jars PyFlink ships (`pyflink/lib`)."""
    from jobs.udf.__main__ import flink_lib_dir as _lib

    return _lib()


def java_array(j_class: Any, items: Iterable[Any]) -> Any:
    """A Java array of `j_class` holding `items` (py4j), for the functions' array arguments."""
    from pyflink.java_gateway import get_gateway

    items = list(items)
    arr = get_gateway().new_array(j_class, len(items))
    for i, item in enumerate(items):
        arr[i] = item
    return arr


def jar_path() -> Path:
    """`build/sitcen-udf.jar`, built first when it is missing or older than a Java source."""
    from jobs.udf.__main__ import build

    return build()
