"""Start a SparkSession the same way everywhere, and fail with one clear line.

Java is checked (and installed if missing) before the JVM starts; any failure to
start Spark becomes :class:`SparkUnavailable` instead of pyspark's raw
``JAVA_GATEWAY_EXITED`` traceback.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from recommender.errors import SparkUnavailable
from recommender.java import ensure_java
from recommender.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")
_OWN_CHECKPOINTS: set[str] = set()  # checkpoint folders start_spark chose (and may delete)


def start_spark(settings: Settings, app_name: str = "recommender",
                master: str | None = None) -> SparkSession:
    """A SparkSession on ``master`` (default ``settings.spark_master``)."""
    java_home = ensure_java(settings.jdk_dir)
    # UDF workers must run the same interpreter (the project's venv) as the driver.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    master = master or settings.spark_master
    java_opts = f"-Dlog4j.configurationFile=file:{LOG4J_CONFIG}"
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.driver.memory", settings.spark_driver_memory)
        .config("spark.driver.extraJavaOptions", java_opts)
        .config("spark.executor.extraJavaOptions", java_opts)
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        # Our UDFs are plain Python; without this Spark 4 warns that it has no Arrow.
        .config("spark.sql.execution.pythonUDF.arrow.enabled", "false")
    )
    if master.startswith("local"):
        # Measured on ml-100k ingest, 2 cores: 8 partitions 8.4 s cold, default 200 19.8 s.
        builder = (builder.config("spark.sql.shuffle.partitions", "8")
                   .config("spark.driver.host", "127.0.0.1")
                   .config("spark.driver.bindAddress", "127.0.0.1"))
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # pyspark raises several unrelated types here
        raise SparkUnavailable(
            f"Spark could not start on {master!r} ({_reason(exc)}). Check that "
            f"'{java_home}/bin/java -version' works (or set JAVA_HOME to a Java 17/21), that "
            f"SPARK_DRIVER_MEMORY={settings.spark_driver_memory} fits in memory, and that the "
            "master URL is reachable."
        ) from None
    spark.sparkContext.setLogLevel("ERROR")
    if not spark.sparkContext.getCheckpointDir():
        # Without one, ALS never cuts its lineage and dies of StackOverflowError past ~20
        # iterations (measured: --max-iter 30 on ML-100K). DATA_DIR is shared on a cluster.
        spark.sparkContext.setCheckpointDir(str((settings.data_dir / "checkpoints").resolve()))
        _OWN_CHECKPOINTS.add(spark.sparkContext.getCheckpointDir())
    return spark


def _reason(exc: BaseException) -> str:
    get_condition = getattr(exc, "getCondition", None)
    if callable(get_condition) and get_condition():
        return str(get_condition())
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:200]


def jvm_gone(exc: BaseException | None) -> bool:
    """py4j lost its connection to the JVM (killed, crashed, out of memory).

    pyspark often re-raises such a failure as its own error, so the whole chain of
    causes is searched.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        kind = type(exc)
        # A Java exception means the JVM is alive; any other py4j error means it is not.
        if kind.__module__.startswith("py4j") and kind.__name__ != "Py4JJavaError":
            return True
        if isinstance(exc, ConnectionError | EOFError):
            tb = exc.__traceback__
            while tb is not None:
                if tb.tb_frame.f_globals.get("__name__", "").startswith("py4j"):
                    return True
                tb = tb.tb_next
        exc = exc.__cause__ or exc.__context__
    return False


def stop_spark(spark: SparkSession) -> None:
    """Stop Spark (and delete this session's checkpoints) without hiding the error that
    brought us here if the JVM is gone."""
    with contextlib.suppress(ConnectionError, EOFError, OSError):
        checkpoints = spark.sparkContext.getCheckpointDir()
        spark.stop()
        # Only the folder we chose; one set in spark-defaults.conf belongs to its owner.
        if checkpoints in _OWN_CHECKPOINTS and checkpoints.startswith("file:"):
            shutil.rmtree(checkpoints.removeprefix("file:"), ignore_errors=True)
