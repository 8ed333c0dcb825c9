"""A third-party package the project does not install: fails everywhere (pre-existing)."""
import datetime

import snowflake.connector  # noqa: F401
from airflow import DAG

with DAG(dag_id="missing_package", start_date=datetime.datetime(2022, 1, 1)) as dag:
    pass
