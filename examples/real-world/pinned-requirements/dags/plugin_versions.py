"""Reads installed versions with pkg_resources (setuptools), as many older DAGs do."""
from datetime import datetime

import pkg_resources
from airflow import DAG
from airflow.operators.bash import BashOperator

AIRFLOW_VERSION = pkg_resources.get_distribution("apache-airflow").version

with DAG(dag_id="plugin_versions", start_date=datetime(2024, 1, 1), schedule=None, catchup=False):
    BashOperator(task_id="show", bash_command=f"echo {AIRFLOW_VERSION}")
