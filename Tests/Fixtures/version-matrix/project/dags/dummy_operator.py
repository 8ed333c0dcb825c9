"""DummyOperator, deprecated for EmptyOperator in 2.4."""
import datetime

from airflow import DAG
from airflow.operators.dummy import DummyOperator

with DAG(dag_id="dummy_operator", start_date=datetime.datetime(2022, 1, 1)) as dag:
    DummyOperator(task_id="noop")
