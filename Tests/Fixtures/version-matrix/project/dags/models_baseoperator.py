"""A custom operator on airflow.models.baseoperator.BaseOperator (airflow.sdk's in 3.x)."""
import datetime

from airflow import DAG
from airflow.models.baseoperator import BaseOperator


class Hello(BaseOperator):
    def execute(self, context):
        return "hello"


with DAG(dag_id="models_baseoperator", start_date=datetime.datetime(2022, 1, 1)) as dag:
    Hello(task_id="hello")
