"""@setup/@teardown arrived in Airflow 2.7."""
import datetime

from airflow.decorators import dag, setup, task, teardown


@dag(dag_id="setup_teardown", start_date=datetime.datetime(2022, 1, 1))
def pipeline():
    @setup
    def create():
        return 1

    @task
    def work(x):
        return x

    @teardown
    def delete():
        return None

    create() >> work(1) >> delete()


DAG_OBJECT = pipeline()   # bound to a name: Airflow 2.3 bags only module-level DAGs
