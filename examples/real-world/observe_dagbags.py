#!/usr/bin/env python3
"""Observes what real Airflow DagBags say about the real-world fixtures, independently of Airlock.

For each fixture and side it builds a virtualenv the way the side's image is built (the Astro CLI's
standalone recipe, docs/runtime-images.md §3-4): Airflow plus what the image ships (pip, setuptools and,
for a runtime, the packages Astronomer lists for it) under the Apache constraints, then
`pip install -r requirements.txt` on top with only Airflow pinned. Then it parses the fixture's dags/
with that Airflow's own DagBag and writes `observed-dagbags.json` next to the fixture (files that fail,
with the first line of their error), with the recipe and the versions as provenance.

Usage: examples/real-world/observe_dagbags.py [FIXTURE…]   (needs uv on PATH or $UV, Python 3.11/3.12 in pyenv)
"""
import csv
import datetime
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CONSTRAINTS = ROOT / "examples" / "constraints"
PROVIDERS = ROOT / "Sources" / "AirlockCore" / "Resources" / "runtime_providers.csv"
UV = os.environ.get("UV") or shutil.which("uv") or "uv"

# Each side: Airflow, Python, the constraints file, the image's packages (runtime list, and why).
FIXTURES = {
    "pinned-requirements": {
        "current": {"airflow": "2.10.5", "python": "3.11", "image": None, "date": "2025-02-11"},
        "target": {"airflow": "3.0.6", "python": "3.11", "image": None, "date": "2025-09-03"},
    },
    "runtime-bundled": {
        # Runtime 12.7.1: Airflow 2.10 (Runtime 12 = Airflow 2.10; newest patch 2.10.5), Python 3.12; its image
        # packages: Astronomer's list for 12.8.0, the nearest listed Runtime 12 (no list for 12.7.1 was found).
        "current": {"airflow": "2.10.5", "python": "3.12", "image": "12.8.0", "date": "2025-02-11"},
        # `-a 3.0.6` on a project without a 3.0.6 runtime in the catalog: plain Apache Airflow 3.0.6 (Astronomer's
        # Runtime 3.x lists ship no postgres provider either).
        "target": {"airflow": "3.0.6", "python": "3.12", "image": None, "date": "2025-09-03"},
    },
}
# Left out of image lists here, with the reason: not on PyPI, or needs system libraries this host lacks.
NOT_INSTALLABLE = {"astronomer-providers-logging": "only on Astronomer's index",
                   "apache-airflow-providers-mysql": "mysqlclient needs MySQL client headers to build"}


def run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(map(str, command))}\n{result.stderr[-3000:]}")
    return result.stdout


def interpreter(python):
    for candidate in sorted((pathlib.Path.home() / ".pyenv" / "versions").glob(f"{python}.*/bin/python{python}")):
        return str(candidate)
    return shutil.which(f"python{python}")


def image_packages(runtime):
    if runtime is None:
        return []
    with open(PROVIDERS) as handle:
        rows = [r for r in csv.DictReader(handle) if r["runtime_version"] == runtime and r["image_variant"] in ("", "standard")]
    return [f"{r['package']}=={r['version']}" for r in rows if r["package"] not in NOT_INSTALLABLE]


def observe(fixture, name, side, work):
    env = work / f"{fixture}-{name}"
    run([UV, "venv", "--quiet", "--python", interpreter(side["python"]), str(env)])
    python = str(env / "bin" / "python")
    constraints = CONSTRAINTS / f"constraints-{side['airflow']}" / f"constraints-{side['python']}.txt"
    image = image_packages(side["image"])
    image_names = {p.split("==")[0] for p in image}
    # The image's own pins win over Apache's for the packages it ships.
    kept = [line for line in constraints.read_text().splitlines() if line.split("==")[0] not in image_names]
    (work / f"{fixture}-{name}-constraints.txt").write_text("\n".join(kept) + "\n")
    dates = ["--exclude-newer-package", f"pip={side['date']}", "--exclude-newer-package", f"setuptools={side['date']}"]
    base = [UV, "pip", "install", "--quiet", "--python", python] + dates
    if image:
        # Astronomer builds its images from its own constraints, which are not public: the image's pins hold,
        # Apache's become preferences (uv reads an existing output file as preferred versions).
        lock = work / f"{fixture}-{name}-lock.txt"
        lock.write_text("\n".join(kept) + "\n")
        (work / f"{fixture}-{name}-image.in").write_text("\n".join([f"apache-airflow=={side['airflow']}", "pip", "setuptools", *image]) + "\n")
        run([UV, "pip", "compile", "--quiet", "--python-version", side["python"], *dates, str(work / f"{fixture}-{name}-image.in"),
             "-o", str(lock)])
        run([UV, "pip", "sync", "--quiet", "--python", python, str(lock)])
    else:
        run(base + ["-c", str(work / f"{fixture}-{name}-constraints.txt"), f"apache-airflow=={side['airflow']}", "pip", "setuptools"])
    requirements = HERE / fixture / "requirements.txt"
    run(base + ["-r", str(requirements), f"apache-airflow=={side['airflow']}"])
    home = work / f"{fixture}-{name}-home"
    home.mkdir()
    script = (
        "import json, logging; logging.disable(logging.CRITICAL)\n"
        "from airflow.models.dagbag import DagBag\n"
        f"bag = DagBag({str(HERE / fixture / 'dags')!r}, include_examples=False)\n"
        "print(json.dumps({'dags': sorted(bag.dag_ids), 'import_errors': {k.rsplit('/', 1)[-1]: v.strip().splitlines()[-1] for k, v in bag.import_errors.items()}}))\n"
    )
    environment = dict(os.environ, AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False",
                       AIRFLOW__CORE__UNIT_TEST_MODE="True")
    output = run([python, "-c", script], env=environment).strip().splitlines()[-1]
    freeze = run([UV, "pip", "freeze", "--python", python])
    versions = {line.split("==")[0]: line.split("==")[1] for line in freeze.splitlines() if "==" in line}
    result = json.loads(output)
    result.update({
        "airflow": side["airflow"], "python": side["python"],
        "recipe": (f"uv pip compile apache-airflow=={side['airflow']} pip setuptools + Runtime {side['image']} list (held), "
                   f"{constraints.relative_to(ROOT)} as preferences; uv pip sync" if side["image"] else
                   f"uv pip install apache-airflow=={side['airflow']} pip setuptools -c {constraints.relative_to(ROOT)}")
                  + f"; then uv pip install -r requirements.txt apache-airflow=={side['airflow']} (pip/setuptools dated {side['date']})",
        "left_out_of_image": {k: v for k, v in NOT_INSTALLABLE.items() if side["image"]},
        "key_versions": {k: versions.get(k) for k in ("setuptools", "pip", "apache-airflow-providers-http", "apache-airflow-providers-postgres")},
    })
    return result


def main():
    fixtures = sys.argv[1:] or list(FIXTURES)
    uv_version = run([UV, "--version"]).strip()
    with tempfile.TemporaryDirectory(prefix="airlock-observe-") as folder:
        work = pathlib.Path(folder)
        for fixture in fixtures:
            sides = {name: observe(fixture, name, side, work) for name, side in FIXTURES[fixture].items()}
            document = {
                "provenance": f"examples/real-world/observe_dagbags.py, {uv_version}, run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
                "sides": sides,
            }
            (HERE / fixture / "observed-dagbags.json").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
            print(fixture, json.dumps({k: v["import_errors"] for k, v in sides.items()}, indent=1))


if __name__ == "__main__":
    main()
