"""airflow.hooks.base.BaseHook: everywhere, moved to airflow.sdk in 3.1 (ruff AIR321). Uses a connection and a
Variable at parse time (answered by the harness's mocks)."""
import datetime

from airflow import DAG
from airflow.hooks.base import BaseHook
from airflow.models import Variable
from airflow.operators.empty import EmptyOperator

TABLE = Variable.get("table_name", default_var="events")

with DAG(dag_id="base_hook", start_date=datetime.datetime(2022, 1, 1)) as dag:
    EmptyOperator(task_id=f"load_{TABLE}")


def conn_host():
    return BaseHook.get_connection("warehouse").host
