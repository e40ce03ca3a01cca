"""The job's JVM-side helpers: Java functions compiled from `jobs/udf/java/` into one jar.

Decoding and validating every line happens in the JVM (one JSON parse per line), because a
per-line Python call costs more than the rest of the pipeline put together.
"""
