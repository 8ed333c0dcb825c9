"""Data-aware scheduling: airflow.datasets arrived in 2.4, became assets in 3.0."""
import datetime

from airflow import DAG
from airflow.datasets import Dataset
from airflow.operators.empty import EmptyOperator

with DAG(dag_id="datasets", start_date=datetime.datetime(2022, 1, 1)) as dag:
    EmptyOperator(task_id="produce", outlets=[Dataset("s3://bucket/key")])
