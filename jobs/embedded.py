"""Running the SLA job on Flink's local mini-cluster (the embedded default).

The job's outputs leave it as JSON-line part files that Flink commits on every checkpoint (and
at the end of a bounded input); the calling process bulk-loads them into ClickHouse while the
job runs. That keeps chDB — one engine per process, unusable from thread-mode Python workers —
entirely in the caller, and costs no per-row py4j round trip.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional

from jobs.sla.config import SlaConfig
from jobs.tuning import Tuning


@dataclass
class JobSettings:
    parallelism: int = 1
    execution_mode: str = "thread"  # thread | process
    checkpoint_interval_ms: int = 5000
    jvm_heap: str = "1536m"
    # C1 only: on a national day C2 spent more CPU compiling (~30 s of 2 cores) than the code it
    # sped up saved; the JVM side here is glue (conversions, small SQL) around the Python operator.
    jvm_options: str = "-XX:+UseG1GC -XX:TieredStopAtLevel=1"
    checkpoint_dir: Optional[Path] = None  # None: in memory (the JobManager's heap, 5 MB at most)
    state_cache_size: int = 100_000
    bundle_size: int = 1000
    tuning: Tuning = field(default_factory=Tuning)
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class FileOutputs:
    """The embedded sink: JSON-line part files under `root/sql`, committed on every checkpoint
    (Flink's file sink: in-progress parts are hidden until their checkpoint completes)."""

    root: Path

    def write(self, lines: Any) -> None:
        from pyflink.java_gateway import get_gateway

        jvm = get_gateway().jvm
        fs = jvm.org.apache.flink.streaming.api.functions.sink.filesystem
        sink = (
            jvm.org.apache.flink.connector.file.sink.FileSink.forRowFormat(jvm.org.apache.flink.core.fs.Path((self.root / "sql").resolve().as_uri()),
                                     jvm.sitcen.udf.LineEncoder())
            .withBucketAssigner(fs.bucketassigners.BasePathBucketAssigner())
            .withRollingPolicy(fs.rollingpolicies.OnCheckpointRollingPolicy.build())
            .withOutputFileConfig(fs.OutputFileConfig.builder().withPartSuffix(".jsonl").build())
            .build()
        )
        lines.sinkTo(sink).name("job-lines").uid("sitcen-job-lines")


def jvm_args(heap: str, options: str, *extra: str) -> str:
    """The mini-cluster JVM's options; class-data sharing messages are silenced, so an archive that
    does not match this JVM is ignored without a word."""
    return " ".join(a for a in (f"-Xmx{heap}", options, *extra, "-Xlog:cds*=off") if a)


def prepare_process_environment(heap: str, options: str = "", jar: Optional[Path] = None) -> None:
    """Before the JVM starts: its options (unless JVM_ARGS is set), the Python path its embedded
    interpreter needs and, when given, `jar` on its class path. Calling it again changes nothing."""
    import site

    from jobs.warmup import archive_option

    root = str(Path(__file__).resolve().parent.parent)
    existing = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [p for p in (root, *site.getsitepackages()) if p not in existing] + existing)
    if jar is not None:
        # PyFlink's gateway puts HADOOP_CLASSPATH on the JVM's class path: the job's own classes are
        # then loadable from every thread py4j serves (the early start runs on one of its own), not
        # only from the thread whose class loader `pipeline.jars` extended.
        entries = [e for e in os.environ.get("HADOOP_CLASSPATH", "").split(os.pathsep) if e]
        if str(jar) not in entries:
            os.environ["HADOOP_CLASSPATH"] = os.pathsep.join([str(jar), *entries])
    # the class-data archive (if recorded) saves seconds of class loading
    os.environ.setdefault("JVM_ARGS", jvm_args(heap, options, archive_option()))


#: What the thread-mode Python operator imports before its first record: PyFlink's embedded runtime
#: (without Apache Beam, `jobs.runtime`) and the SLA rules.
PYTHON_RUNTIME = ("pyflink.fn_execution.embedded.operation_utils", "jobs.operators", "jobs.sla.ticket",
                  "jobs.sla.closing", "schemas.catalog")


class Startup:
    """The JVM, Flink's mini-cluster and (thread mode) the Python operator's runtime, started in the
    background (`sitcen.embedded.LocalCluster`) while the caller imports PyFlink's client side and
    wires the job: they need the configuration, not the graph. `submit` hands the job to that cluster."""

    def __init__(self, settings: JobSettings):
        from jobs.udf import jar_path

        self.settings = settings
        self._cluster: list[Any] = []
        prepare_process_environment(settings.jvm_heap, settings.jvm_options, jar_path().resolve())
        self._thread = threading.Thread(target=self._start, name="sitcen-start", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        from pyflink.java_gateway import get_gateway

        try:
            jvm = get_gateway().jvm
            conf = jvm.org.apache.flink.configuration.Configuration.fromMap(job_configuration(self.settings))
            local = jvm.sitcen.embedded.LocalCluster
            self._cluster.append(local.start(conf, self.settings.parallelism))
            if self.settings.execution_mode == "thread":
                local.preparePython(sys.executable, os.environ["PYTHONPATH"],
                                    f"import jobs.runtime; jobs.runtime.preload({list(PYTHON_RUNTIME)!r})")
        except Exception:  # noqa: BLE001 - submit() then goes Flink's usual way; a JVM that cannot
            pass  # start at all fails again, and is reported, in make_environment

    def submit(self, env: Any, job_name: str) -> Any:
        """Submit the job wired into `env` (a PyFlink StreamExecutionEnvironment): to the cluster
        started early, or the usual way when it could not start or has too few slots."""
        from pyflink.common.job_client import JobClient

        self._thread.join()
        # What env.execute_async does before its executor: PyFlink's Python-operator configuration.
        j_graph = env._generate_stream_graph(clear_transformations=True, job_name=job_name)
        j_env = env._j_stream_execution_environment
        if self._cluster:
            cluster = self._cluster[0]
            if cluster.fits(j_graph):
                return JobClient(cluster.submit(j_graph, j_env.getConfiguration()))
            cluster.close()
        return JobClient(j_env.executeAsync(j_graph))


def job_configuration(settings: JobSettings) -> dict[str, str]:
    """The Flink configuration of the job and of its mini-cluster."""
    from jobs.udf import jar_path

    return {
        "python.execution-mode": settings.execution_mode,
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
        "python.state.cache-size": str(settings.state_cache_size),
        "python.fn-execution.bundle.size": str(settings.bundle_size),
        "restart-strategy.type": "none",
        "pipeline.jars": jar_path().resolve().as_uri(),
        "pipeline.object-reuse": "true",
        "parallelism.default": str(settings.parallelism),
        "pipeline.auto-watermark-interval": f"{settings.tuning.watermark_interval_ms} ms",
        "execution.checkpointing.interval": f"{settings.checkpoint_interval_ms} ms",
        **({"execution.checkpointing.storage": "filesystem",
            "execution.checkpointing.dir": settings.checkpoint_dir.resolve().as_uri()}
           if settings.checkpoint_dir is not None else {}),
        **settings.extra,
    }


def make_environment(settings: JobSettings):
    from pyflink.common import Configuration
    from pyflink.datastream import StreamExecutionEnvironment

    from jobs.udf import jar_path

    prepare_process_environment(settings.jvm_heap, settings.jvm_options, jar_path().resolve())
    if settings.execution_mode == "thread":
        # What wiring a Python function into the job imports: its protobuf description (without
        # Apache Beam, which only process mode's workers use: `jobs.runtime`).
        from jobs.runtime import preload

        preload(["pyflink.fn_execution.flink_fn_execution_pb2"])
        # Thread mode runs Python inside the TaskManager: no need for the loopback worker pool that
        # PyFlink otherwise starts for a local job (its gRPC server and Beam's import cost ~1 s).
        os.environ.setdefault("_python_worker_execution_mode", "process")
    conf = Configuration()
    for key, value in job_configuration(settings).items():
        conf.set_string(key, value)
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.set_parallelism(settings.parallelism)
    return env


def run(input_path: str, out_dir: Path, cfg: SlaConfig, run_id: str, settings: JobSettings,
        poll: Optional[Callable[[], None]] = None, poll_every_s: float = 1.0,
        while_starting: Optional[Callable[[], None]] = None, startup: Optional[Startup] = None) -> float:
    """Run the job to the end of `input_path`, on the mini-cluster `startup` began (or one started
    now). `while_starting` runs once the job is submitted, while its tasks start (a failure there
    stops the job and is raised); `poll` is called while it runs. Returns wall seconds from
    submission to the end."""
    import time

    from jobs.pipeline import FileSource, build

    if startup is None:
        startup = Startup(settings)
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    if settings.checkpoint_dir is None:  # beside the outputs; the loader skips `_` folders
        settings = replace(settings, checkpoint_dir=out_dir / "_checkpoints")
    env = make_environment(settings)
    build(env, FileSource(str(Path(input_path).resolve())), FileOutputs(out_dir), cfg, run_id, settings.tuning)
    error: list[BaseException] = []
    client: list[Any] = []
    submitted = threading.Event()

    def execute() -> None:
        try:
            client.append(startup.submit(env, f"sitcen-sla {run_id}"))
            submitted.set()
            client[0].get_job_execution_result().result()
        except BaseException as exc:  # reported by the caller
            error.append(exc)
        finally:
            submitted.set()

    started = time.monotonic()
    worker = threading.Thread(target=execute, name="sitcen-job", daemon=True)
    worker.start()
    if while_starting is not None:
        try:
            while_starting()
        except BaseException:
            submitted.wait()
            if client and not error:
                _cancel(client[0])
            raise
    while worker.is_alive():
        worker.join(poll_every_s)
        if poll is not None:
            poll()
    if error:
        raise JobFailed(_root_cause(error[0])) from error[0]
    return time.monotonic() - started


def _cancel(job_client: Any) -> None:
    try:
        job_client.cancel().result()
    except Exception:  # noqa: BLE001 - the job may have ended meanwhile
        pass


class JobFailed(RuntimeError):
    pass


def _root_cause(exc: BaseException) -> str:
    """The innermost cause Flink reports (its last 'Caused by' / exception line)."""
    lines = str(exc).splitlines()
    causes = [line.strip() for line in lines if "Caused by:" in line or "Exception:" in line]
    return causes[-1] if causes else (lines[0] if lines else repr(exc))
