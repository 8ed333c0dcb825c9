"""`schedule_interval=` was removed in Airflow 3.0."""
import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG(dag_id="schedule_interval", schedule_interval="@daily", start_date=datetime.datetime(2022, 1, 1)) as dag:
    EmptyOperator(task_id="noop")
