"""Reads a Variable, a Connection and an environment variable at parse time.

Without Airlock's placeholders this would fail in any throw-away test environment.
"""
import os

from airflow import DAG
from airflow.hooks.base import BaseHook
from airflow.models import Variable
from airflow.operators.empty import EmptyOperator

from common.defaults import DEFAULT_ARGS, START

TABLES = Variable.get("tables_to_sync", default_var="orders,customers").split(",")
WAREHOUSE = BaseHook.get_connection("warehouse")
OWNER = os.getenv("EXAMPLE_OWNER", "nobody")

with DAG(dag_id="sync_tables", start_date=START, schedule=None, catchup=False, default_args={**DEFAULT_ARGS, "owner": OWNER}):
    for table in TABLES:
        EmptyOperator(task_id=f"sync_{table}")
