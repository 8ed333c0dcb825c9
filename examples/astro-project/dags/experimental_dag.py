"""Listed in .astro/dag_integrity_exceptions.txt: reported, never fails the run."""
from airflow.operators.subdag import SubDagOperator  # noqa: F401  (removed in Airflow 3)
