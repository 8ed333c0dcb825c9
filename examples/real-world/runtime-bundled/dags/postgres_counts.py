"""Uses the Postgres provider that Astro Runtime 12 ships; requirements.txt does not list it."""
from datetime import datetime

from airflow import DAG
from airflow.operators.python import PythonOperator
from airflow.providers.postgres.hooks.postgres import PostgresHook


def count_rows():
    return PostgresHook(postgres_conn_id="warehouse").get_first("select count(*) from events")


with DAG(dag_id="postgres_counts", start_date=datetime(2024, 1, 1), schedule=None, catchup=False):
    PythonOperator(task_id="count", python_callable=count_rows)
