"""airflow.utils.dates.days_ago was removed in Airflow 3.0."""
from airflow import DAG
from airflow.utils.dates import days_ago

with DAG(dag_id="days_ago", start_date=days_ago(1)) as dag:
    pass
