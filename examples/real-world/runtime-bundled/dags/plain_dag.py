"""Needs nothing beyond Airflow: passes on both sides."""
from datetime import datetime

from airflow import DAG
from airflow.operators.empty import EmptyOperator

with DAG(dag_id="plain_dag", start_date=datetime(2024, 1, 1), schedule=None, catchup=False):
    EmptyOperator(task_id="start")
