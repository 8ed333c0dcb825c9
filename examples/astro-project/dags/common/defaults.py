"""Shared settings imported by the DAGs (Airflow puts dags/ on sys.path)."""
from datetime import datetime, timedelta

DEFAULT_ARGS = {"owner": "data-team", "retries": 1, "retry_delay": timedelta(minutes=5)}
START = datetime(2024, 1, 1)
