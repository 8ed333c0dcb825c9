"""SubDAGs were removed in Airflow 3.0."""
import datetime

from airflow import DAG
from airflow.operators.subdag import SubDagOperator  # noqa: F401

with DAG(dag_id="subdag_operator", start_date=datetime.datetime(2022, 1, 1)) as dag:
    pass
