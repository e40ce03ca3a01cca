"""`python -m jobs.udf build [--force]` compiles the job's Java functions into `build/sitcen-udf.jar`.

Sources: every `jobs/udf/java/**/*.java`, compiled with `javac --release 17` against the jars that
PyFlink ships (`pyflink/lib/*`, which holds Flink's shaded Jackson, and `pyflink/opt/flink-python*.jar`,
which holds PemJa). Classes go to
`build/udf-classes/`, the jar to `build/sitcen-udf.jar`. Idempotent: nothing happens while the jar is
newer than every source.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JAVA_DIR = Path(__file__).resolve().parent / "java"
BUILD_DIR = ROOT / "build"
CLASSES_DIR = BUILD_DIR / "udf-classes"
JAR = BUILD_DIR / "sitcen-udf.jar"

JDK_HINT = "install a JDK 17: apt-get install openjdk-17-jdk-headless"


class BuildError(RuntimeError):
    """The jar could not be built (no JDK, or the sources do not compile)."""


def flink_lib_dir() -> Path:
    """The directory of the jars PyFlink ships (flink-dist, table runtime, ...)."""
    import pyflink

    return Path(pyflink.__file__).resolve().parent / "lib"


def sources() -> list[Path]:
    return sorted(JAVA_DIR.rglob("*.java"))


def resources() -> list[Path]:
    """Files packed as they are (service registrations under META-INF/)."""
    return sorted(p for p in (JAVA_DIR / "META-INF").rglob("*") if p.is_file())


#: Flink's Pekko RPC system, nested in flink-dist; extracted once beside the jar so that a cluster
#: start need not copy it out anew (`sitcen.embedded.ExtractedRpcSystemLoader`).
RPC_JAR = BUILD_DIR / "flink-rpc-akka.jar"


def extract_rpc_jar() -> Path:
    dist = next(flink_lib_dir().glob("flink-dist*.jar"))
    if not RPC_JAR.is_file() or RPC_JAR.stat().st_mtime < dist.stat().st_mtime:
        BUILD_DIR.mkdir(parents=True, exist_ok=True)
        partial = RPC_JAR.with_suffix(".partial")
        with zipfile.ZipFile(dist) as zf, zf.open(RPC_JAR.name) as src, open(partial, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(partial, RPC_JAR)
    return RPC_JAR


def is_stale(jar: Path = JAR) -> bool:
    """True when the jar is missing or older than any Java source."""
    if not jar.exists():
        return True
    built = jar.stat().st_mtime
    return any(src.stat().st_mtime >= built for src in sources() + resources())


def build(force: bool = False) -> Path:
    """Compile and pack the jar unless it is up to date; returns its path."""
    srcs = sources()
    if not srcs:
        raise BuildError(f"no Java sources under {JAVA_DIR}")
    extract_rpc_jar()
    if not force and not is_stale():
        return JAR
    javac = shutil.which("javac")
    if javac is None:
        java_home = os.environ.get("JAVA_HOME")
        candidate = Path(java_home, "bin", "javac") if java_home else None
        if candidate is None or not candidate.exists():
            raise BuildError(f"javac not found; {JDK_HINT}")
        javac = str(candidate)
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    # Build beside the final paths and swap in at the end, so concurrent builds never see a half jar.
    work = Path(tempfile.mkdtemp(prefix="udf-", dir=BUILD_DIR))
    try:
        classes = work / "classes"
        classes.mkdir()
        cmd = [
            javac,
            "--release",
            "17",
            "-encoding",
            "UTF-8",
            "-Xlint:-options",
            "-cp",
            os.pathsep.join([f"{flink_lib_dir()}/*", *map(str, sorted(flink_lib_dir().parent.glob("opt/flink-python*.jar")))]),
            "-d",
            str(classes),
            *map(str, srcs),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"javac failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        jar_tmp = work / JAR.name
        with zipfile.ZipFile(jar_tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nCreated-By: sitcen jobs.udf\r\n\r\n")
            for path in sorted(classes.rglob("*.class")):
                zf.write(path, path.relative_to(classes).as_posix())
            for path in resources():
                zf.write(path, path.relative_to(JAVA_DIR).as_posix())
        old = work / "old-classes"
        try:
            CLASSES_DIR.rename(old)
        except FileNotFoundError:
            pass
        try:
            classes.rename(CLASSES_DIR)
        except OSError:  # another build put its (identical) classes there first
            pass
        os.replace(jar_tmp, JAR)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return JAR


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "build" or any(a != "--force" for a in argv[1:]):
        print("usage: python -m jobs.udf build [--force]", file=sys.stderr)
        return 2
    try:
        jar = build(force="--force" in argv[1:])
    except BuildError as exc:
        print(f"jobs.udf: {exc}", file=sys.stderr)
        return 1
    print(jar)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
