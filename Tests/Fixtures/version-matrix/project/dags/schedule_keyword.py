"""`schedule=` arrived in Airflow 2.4: a TypeError on 2.3."""
import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG(dag_id="schedule_keyword", schedule=None, start_date=datetime.datetime(2022, 1, 1)) as dag:
    EmptyOperator(task_id="noop")
