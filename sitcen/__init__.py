"""sitcen — the real-time Situation Center for CON branches (PyFlink → ClickHouse)."""

__version__ = "0.1.0"
