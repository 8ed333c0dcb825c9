"""The Task SDK (airflow.sdk) arrived in Airflow 3.0."""
import datetime

from airflow.sdk import dag, task


@dag(dag_id="sdk_dag", schedule=None, start_date=datetime.datetime(2022, 1, 1))
def pipeline():
    @task
    def hello():
        return "hello"

    hello()


DAG_OBJECT = pipeline()   # bound to a name: Airflow 2.3 bags only module-level DAGs
