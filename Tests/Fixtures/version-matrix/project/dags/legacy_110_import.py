"""1.10-style module path: a deprecation shim through 2.x, gone in 3.0."""
import datetime

from airflow import DAG
from airflow.operators.bash_operator import BashOperator

with DAG(dag_id="legacy_110_import", start_date=datetime.datetime(2022, 1, 1)) as dag:
    BashOperator(task_id="hello", bash_command="echo hello")
