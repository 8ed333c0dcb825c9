"""Works today (HTTP provider 4.1.0 on Airflow 2); Airflow 3 removed airflow.operators.dummy."""
from datetime import datetime

from airflow import DAG
from airflow.operators.dummy import DummyOperator
from airflow.providers.http.operators.http import SimpleHttpOperator

with DAG(dag_id="http_legacy_import", start_date=datetime(2024, 1, 1), schedule=None, catchup=False):
    DummyOperator(task_id="start") >> SimpleHttpOperator(task_id="ping", http_conn_id="api", endpoint="health")
