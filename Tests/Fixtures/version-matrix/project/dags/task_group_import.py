"""airflow.utils.task_group.TaskGroup: 2.x home, a shim to airflow.sdk in 3.x."""
import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator
from airflow.utils.task_group import TaskGroup

with DAG(dag_id="task_group_import", start_date=datetime.datetime(2022, 1, 1)) as dag:
    with TaskGroup("group"):
        EmptyOperator(task_id="noop")
