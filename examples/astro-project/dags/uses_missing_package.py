"""Imports a package the project never installed: fails today and after the upgrade (pre-existing)."""
from datetime import datetime

import snowflake.connector  # noqa: F401  (not in requirements.txt)
from airflow import DAG

with DAG(dag_id="snowflake_export", start_date=datetime(2024, 1, 1), schedule=None):
    pass
