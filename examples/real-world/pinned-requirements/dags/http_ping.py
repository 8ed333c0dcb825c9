"""Uses SimpleHttpOperator: in the pinned HTTP provider 4.1.0, removed in 5.0.0."""
from datetime import datetime

from airflow import DAG
from airflow.providers.http.operators.http import SimpleHttpOperator

with DAG(dag_id="http_ping", start_date=datetime(2024, 1, 1), schedule=None, catchup=False):
    SimpleHttpOperator(task_id="ping", http_conn_id="api", endpoint="health", method="GET")
