"""Parses on every Airflow from 2.3 on: the imports every era keeps (with warnings on 3.x)."""
import datetime

from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG(dag_id="valid_classic", start_date=datetime.datetime(2022, 1, 1)) as dag:
    BashOperator(task_id="hello", bash_command="echo hello")
