"""What a plain Airflow DagBag says about each DAG file: the oracle of the version-matrix test.

  <env>/bin/python observe.py DAGS_FOLDER OUT.json

Runs in an environment Airlock built (same pins), with a migrated throw-away SQLite DB, one DagBag per
file, nothing mocked. Writes {airflowVersion, python, files: {name: {dagIds, error}}}; `error` is the last
line of DagBag's import error (`Type: message`) or null.
"""
import inspect
import json
import os
import subprocess
import sys
import tempfile

home = tempfile.mkdtemp(prefix="observe-")
os.environ.update({"AIRFLOW_HOME": home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                   "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:///%s/airflow.db" % home,
                   "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "0"})
dags, out = os.path.abspath(sys.argv[1]), sys.argv[2]
bin_dir = os.path.dirname(sys.executable)
env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))
init = subprocess.run([os.path.join(bin_dir, "airflow"), "db", "migrate"], env=env, capture_output=True, text=True)
if init.returncode != 0:   # `db migrate` arrived in 2.7
    subprocess.run([os.path.join(bin_dir, "airflow"), "db", "init"], env=env, capture_output=True, text=True, check=True)
sys.path.append(dags)

import airflow  # noqa: E402
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:
    from airflow.models.dagbag import DagBag
kwargs = {"include_examples": False} if "include_examples" in inspect.signature(DagBag.__init__).parameters else {}
files = {}
for name in sorted(os.listdir(dags)):
    if not name.endswith(".py"):
        continue
    bag = DagBag(dag_folder=os.path.join(dags, name), **kwargs)
    errors = [str(text).strip().splitlines()[-1] for text in bag.import_errors.values()]
    files[name] = {"dagIds": sorted(bag.dag_ids), "error": errors[0] if errors else None}
with open(out, "w") as fh:
    json.dump({"airflowVersion": airflow.__version__, "python": sys.version.split()[0], "files": files}, fh, indent=1, sort_keys=True)
