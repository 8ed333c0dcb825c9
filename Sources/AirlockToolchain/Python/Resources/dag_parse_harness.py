"""Airlock DAG-parse harness: stdlib + Airflow only; Python 3.9-3.12; Airflow 2.7-3.1.

  python dag_parse_harness.py parse --request REQ.json --out RESULT.json
  python dag_parse_harness.py info  --out RESULT.json

Each mode writes one JSON document to --out and exits 0 (2 = bad command line). stdout is never
used for results (Airflow 3 logs there; fd 1 is pointed at fd 2). `parse` imports Airflow once,
then parses every DAG file in a forked child (parse_one) with at most `parallelism` alive.
"""
import argparse
import faulthandler
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
import warnings

STDERR_TAIL, TRACEBACK_LINES, MAX_WARNINGS = 4096, 20, 50
# Keys the project's .env can never set: the harness owns the DB, config file and executor.
FORCED_DROP_PREFIXES = ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__SQL_ALCHEMY_CONN",
                        "AIRFLOW__CORE__EXECUTOR", "AIRFLOW__CORE__UNIT_TEST_MODE", "AIRFLOW_CONFIG")
# os.getenv keys that are never mocked (Airflow / Python / Kubernetes tooling probe these).
ENV_NO_MOCK_PREFIXES = ("AIRFLOW", "_AIRFLOW", "PYTHON", "KUBERNETES", "KUBE", "PYTEST", "LC_", "LANG")
WARMUP_DAG = """
from airflow import DAG
try:
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:
    from airflow.operators.empty import EmptyOperator
with DAG(dag_id="airlock_warmup", schedule=None):
    EmptyOperator(task_id="noop")
"""
# Non-deprecated modules DAG files commonly use, imported in the parent so children start warm.
# Deprecated shims are NOT pre-imported: their import-time warnings must still fire in children.
WARMUP_MODULES = ("airflow.sdk", "airflow.decorators", "airflow.models.baseoperator", "airflow.models.dag",
                  "airflow.providers.standard.operators.bash", "airflow.providers.standard.operators.python",
                  "airflow.sensors.base", "airflow.serialization.serialized_objects", "pendulum")
WARMUP_MODULES_2X = ("airflow.operators.bash", "airflow.operators.python")   # shims on Airflow 3

_MISSING = object()
MOCKED = []      # mock usages while parsing the current file (child-local after fork)
CAPTURED = {}    # abs DAG path -> exception raised while executing it
STATE = {"projectRoot": "/", "file": None}


def write_json(path, doc):
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1, default=str)
    os.replace(tmp, path)


def rel(path):
    try:
        r = os.path.relpath(path, STATE["projectRoot"])
    except ValueError:
        return path
    return path if r.startswith("..") else r


def same_file(a, b):
    return bool(a and b) and (a == b or os.path.realpath(a) == os.path.realpath(b))


def prepare_env(home, db_path, extra=None, defaults=None):
    """Precedence: defaults < project environment < harness-owned keys."""
    os.environ.update(defaults or {})
    os.environ.update({str(k): str(v) for k, v in (extra or {}).items() if v is not None})
    for key in [k for k in os.environ if k.startswith(FORCED_DROP_PREFIXES)]:
        del os.environ[key]
    os.environ["AIRFLOW_HOME"] = home
    if db_path:
        os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = "sqlite:///" + os.path.abspath(db_path)


def airflow_version():
    import airflow
    return getattr(airflow, "__version__", "unknown")


def err_doc(exc, prefix=""):
    return {"ok": False, "error": "%s%s: %s" % (prefix, type(exc).__name__, exc),
            "traceback": traceback.format_exc()[-4000:]}


# ----------------------------------------------------------------------------- mocks
def _note(entry):
    if entry not in MOCKED:
        MOCKED.append(entry)


def _from_project(frame):
    """True when the os.getenv caller is the DAG file or project code (not site-packages / .venv)."""
    fn, root = frame.f_code.co_filename, STATE["projectRoot"].rstrip(os.sep) + os.sep
    return same_file(fn, STATE["file"]) or (
        fn.startswith(root) and "site-packages" not in fn and os.sep + "." not in fn[len(root) - 1:])


def _getenv(key, default=None):
    value = os.environ.get(key)
    if value is not None or default is not None:
        return value if value is not None else default
    if STATE["file"] is None or str(key).upper().startswith(ENV_NO_MOCK_PREFIXES):
        return None
    if not _from_project(sys._getframe(1)):
        return None
    _note("env:%s" % key)
    return "MOCKED_%s_VALUE" % key


def _mock_connection(orig):
    def get_connection(cls, conn_id, *args, **kwargs):
        try:
            return orig(cls, conn_id, *args, **kwargs)
        except Exception:
            from airflow.models import Connection
            _note("connection:%s" % conn_id)
            return Connection(conn_id=conn_id, conn_type="generic")
    return get_connection


def _mock_variable(orig):
    def get(cls, key, *args, **kwargs):
        try:
            return orig(cls, key, *args, **kwargs)
        except Exception:
            pass
        default = args[0] if args else kwargs.get("default_var", kwargs.get("default", _MISSING))
        deser = args[1] if len(args) > 1 else kwargs.get("deserialize_json", False)
        _note("variable:%s" % key)
        if default is not _MISSING and type(default).__name__ not in ("ArgNotSet", "NOTSET"):
            return default
        return {} if deser else "MOCKED_VARIABLE_%s" % key
    return get


def install_mocks():
    """Real lookup first (env vars, DB, secrets backends); placeholder + note when it fails."""
    os.getenv = _getenv
    targets = [("airflow.hooks.base", "BaseHook", "get_connection", _mock_connection),
               ("airflow.sdk", "BaseHook", "get_connection", _mock_connection),   # Airflow >= 3.1
               ("airflow.models.variable", "Variable", "get", _mock_variable),
               ("airflow.sdk", "Variable", "get", _mock_variable)]                # Airflow 3
    for mod_name, attr, meth, make in targets:
        try:
            cls_ = getattr(__import__(mod_name, fromlist=[attr]), attr)
        except Exception:
            continue
        klass = next((k for k in cls_.__mro__ if meth in k.__dict__), None)   # where it is defined
        raw = klass.__dict__[meth] if klass else None
        if raw is not None and not getattr(raw, "_airlock", False):
            wrapped = classmethod(make(raw.__func__ if isinstance(raw, (classmethod, staticmethod)) else raw))
            wrapped._airlock = True
            setattr(klass, meth, wrapped)


def install_exec_capture():
    """DagBag keeps only a string per import error; keep the exception object too. The hook sits
    on the one loader instance that runs the DAG file, so imports nested in the DAG file get no
    extra stack frame (warning stacklevels still point into the DAG file)."""
    from importlib.machinery import SourceFileLoader
    orig_init = SourceFileLoader.__init__

    def __init__(self, fullname, path):
        orig_init(self, fullname, path)
        if STATE["file"] and same_file(path, STATE["file"]):
            bound = self.exec_module

            def exec_module(module):
                try:
                    return bound(module)
                except BaseException as exc:
                    CAPTURED[STATE["file"]] = exc
                    raise
            self.exec_module = exec_module
    SourceFileLoader.__init__ = __init__


def warm_up():
    """Import what parsing a trivial DAG needs, in the parent, before forking."""
    import importlib
    from airflow.models.dagbag import DagBag
    extra = WARMUP_MODULES_2X if airflow_version().startswith("2.") else ()
    tmp = tempfile.mkdtemp(prefix="airlock-warmup-")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in WARMUP_MODULES + extra:
            try:
                importlib.import_module(name)
            except Exception:
                pass
        try:
            with open(os.path.join(tmp, "airlock_warmup_dag.py"), "w") as fh:
                fh.write(WARMUP_DAG)
            DagBag(dag_folder=fh.name, include_examples=False)
        except Exception:
            pass
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


# ----------------------------------------------------------------------------- parse
def error_from_exception(exc, path):
    line = None
    for fs in traceback.extract_tb(exc.__traceback__):
        if same_file(fs.filename, path):
            line = fs.lineno   # innermost frame in the DAG file itself
    if isinstance(exc, SyntaxError) and same_file(exc.filename, path):
        line = exc.lineno
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip().splitlines()
    err = {"type": type(exc).__name__, "message": str(exc), "line": line,
           "traceback": "\n".join(tb[-TRACEBACK_LINES:])}
    cur = exc
    for _ in range(5):   # e.g. ImportError("Could not import ...") wrapping a ModuleNotFoundError
        if isinstance(cur, ModuleNotFoundError) and cur.name:
            err["missingModule"] = cur.name
            break
        cur = cur and (cur.__cause__ or cur.__context__)
    return err


def error_from_text(text):
    """Fallback when only DagBag's import-error string exists (cycle, duplicate dag_id, ...)."""
    text = str(text).strip()
    last = text.splitlines()[-1] if text.startswith("Traceback") else text
    etype, sep, msg = last.partition(": ")
    if not sep or not etype.replace(".", "").replace("_", "").isalnum():
        etype, msg = "ImportError", last
    return {"type": etype.rsplit(".", 1)[-1], "message": msg, "line": None,
            "traceback": "\n".join(text.splitlines()[-TRACEBACK_LINES:])}


def parse_one(path):
    """Runs in the forked child; returns the per-file result (without seconds/stderrTail)."""
    from airflow.models.dagbag import DagBag
    STATE["file"] = path
    res = {"path": rel(path), "outcome": "ok", "dagIds": [], "error": None, "warnings": [], "mocked": MOCKED}
    bag = fatal = None
    if not os.path.isfile(path):
        res["outcome"], res["error"] = "error", {"type": "FileNotFoundError", "message": path, "line": None}
        return res
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            bag = DagBag(dag_folder=path, include_examples=False)
        except BaseException as exc:   # e.g. SystemExit escapes DagBag on Airflow 2.x
            fatal = exc
    STATE["file"] = None
    if bag is not None:
        res["dagIds"] = sorted(bag.dag_ids)
        if bag.import_errors:
            text = bag.import_errors.get(path) or next(iter(bag.import_errors.values()))
            exc = CAPTURED.get(path)
            res["error"] = error_from_exception(exc, path) if exc is not None else error_from_text(text)
            res["error"]["airflowMessage"] = str(text)[-2000:]
    if fatal is not None:
        res["error"] = error_from_exception(CAPTURED.get(path, fatal), path)
    res["outcome"] = "ok" if res["error"] is None else "error"
    seen = set()
    for w in caught:
        item = {"category": w.category.__name__, "message": str(w.message),
                "line": w.lineno if same_file(w.filename, path) else None,
                "file": rel(w.filename) if w.filename else None}
        key = (item["category"], item["message"], item["file"], w.lineno)
        if key not in seen and len(seen) < MAX_WARNINGS:
            seen.add(key)
            res["warnings"].append(item)
    return res


def spawn(path, out_path, log_path):
    sys.stdout.flush()
    sys.stderr.flush()   # nothing buffered in the parent may leak into a child's log
    pid = os.fork()
    if pid:
        return pid
    code = 70
    try:
        os.setpgid(0, 0)   # own process group: a kill also takes whatever the DAG file spawned
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDWR)
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(null, 0)
        os.dup2(log, 1)   # stdout (Airflow 3 logs there) and stderr share the per-file log
        os.dup2(log, 2)
        # Airflow 3's DagBag installs a Python SIGSEGV handler, which turns a real segfault into a
        # hang: restore the default, dump the stack into the log (faulthandler), keep crashes crashes.
        real_signal = signal.signal
        real_signal(signal.SIGSEGV, signal.SIG_DFL)
        signal.signal = lambda sig, handler: None if sig == signal.SIGSEGV else real_signal(sig, handler)
        faulthandler.enable(all_threads=True)
        faulthandler.register(signal.SIGUSR1, all_threads=True)   # parent asks for a stack on timeout
        write_json(out_path, parse_one(path))
        code = 0
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(code)


def read_tail(path):
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, os.path.getsize(path) - STDERR_TAIL))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def kill_group(pid):
    for kill in (os.killpg, os.kill):
        try:
            return kill(pid, signal.SIGKILL)
        except OSError:
            continue


def child_result(path, timed_out, status, timeout, out_path):
    if not timed_out and os.path.exists(out_path):
        with open(out_path, encoding="utf-8") as fh:
            return json.load(fh)
    res = {"path": rel(path), "dagIds": [], "warnings": [], "mocked": []}
    if timed_out:
        res["outcome"] = "timeout"
        res["error"] = {"type": "Timeout", "line": None, "message": "DAG file import took longer than %ss" % timeout}
        return res
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    msg = "child killed by signal %s" % sig if sig is not None else "child exited with code %s, no result" % code
    res["outcome"] = "crash"
    res["error"] = {"type": "Crash", "line": None, "exitCode": code, "signal": sig, "message": msg}
    return res


def run_pool(paths, timeout, parallelism):
    workdir = tempfile.mkdtemp(prefix="airlock-parse-")
    results, pending, running = [None] * len(paths), list(enumerate(paths)), {}

    def on_term(signum, frame):
        for child in list(running):
            kill_group(child)
        os._exit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)
    try:
        while pending or running:
            while pending and len(running) < parallelism:
                idx, path = pending.pop(0)
                out_path, log_path = (os.path.join(workdir, "%d.%s" % (idx, ext)) for ext in ("json", "log"))
                running[spawn(path, out_path, log_path)] = (idx, time.monotonic(), out_path, log_path)
            reaped = False
            for pid, (idx, start, out_path, log_path) in list(running.items()):
                elapsed = time.monotonic() - start
                wpid, status = os.waitpid(pid, os.WNOHANG)
                timed_out = not wpid
                if timed_out and elapsed < timeout:
                    continue
                if timed_out:   # dump the child's stack into its log first: shows where it hung
                    os.kill(pid, signal.SIGUSR1)
                    time.sleep(0.2)
                kill_group(pid)   # the timed-out child, or stray grandchildren left in its group
                if timed_out:
                    wpid, status = os.waitpid(pid, 0)
                del running[pid]
                reaped = True
                res = child_result(paths[idx], timed_out, status, timeout, out_path)
                res["seconds"], res["stderrTail"] = round(elapsed, 3), read_tail(log_path)
                if res["outcome"] in ("timeout", "crash"):   # innermost DAG-file frame of the dump
                    marker = 'File "%s", line ' % paths[idx]
                    hit = res["stderrTail"].split(marker, 1)[1:]
                    res["error"]["line"] = int(hit[0].split()[0]) if hit and hit[0].split()[0].isdigit() else None
                results[idx] = res
            if not reaped:
                time.sleep(0.01)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for pid in running:
            kill_group(pid)
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def cmd_parse(args):
    t0 = time.monotonic()
    with open(args.request, encoding="utf-8") as fh:
        req = json.load(fh)
    root = os.path.abspath(req["projectRoot"])
    dags = os.path.abspath(req.get("dagsFolder") or os.path.join(root, "dags"))
    if not os.path.isdir(dags):
        raise ValueError("dagsFolder does not exist: %s" % dags)
    home = os.path.abspath(req.get("airflowHome") or tempfile.mkdtemp(prefix="airlock-home-"))
    os.makedirs(home, exist_ok=True)
    STATE["projectRoot"] = root
    # DAGBAG_IMPORT_TIMEOUT=0: the harness enforces timeoutSeconds itself (SIGALRM would race it).
    defaults = {"AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "0", "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS": "False"}
    if os.path.isdir(os.path.join(root, "plugins")):
        defaults["AIRFLOW__CORE__PLUGINS_FOLDER"] = os.path.join(root, "plugins")
    env = req.get("environment") or {}
    prepare_env(home, req.get("databasePath"), env, defaults)
    os.environ.update({"AIRFLOW__CORE__DAGS_FOLDER": dags, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
    os.chdir(root)
    for p in reversed([p for p in str(env.get("PYTHONPATH") or "").split(os.pathsep) if p]):
        if p not in sys.path:
            sys.path.insert(0, p)   # like PYTHONPATH: ahead of site-packages
    if root not in sys.path:
        sys.path.append(root)   # Astro runs from the project root: `import include.x` works
    t_imp = time.monotonic()
    try:
        import airflow  # noqa: F401
        from airflow.models.dagbag import DagBag  # noqa: F401
    except BaseException as exc:
        return err_doc(exc, "cannot import Airflow: ")
    import_seconds = time.monotonic() - t_imp
    template, db_path = req.get("databaseTemplate"), req.get("databasePath")
    if template and db_path and not os.path.exists(template):
        # First run in this environment: migrate the throw-away DB here, in the process that already
        # imported Airflow, and keep a pristine copy as the environment's template for later runs.
        from airflow import settings
        from airflow.utils import db as dbu
        dbu.initdb()
        settings.engine.dispose()
        staging = "%s.%d.tmp" % (template, os.getpid())
        shutil.copyfile(db_path, staging)
        os.replace(staging, template)
    if req.get("infoOut") and not os.path.exists(req["infoOut"]):
        write_json(req["infoOut"], info_doc())   # the environment's facts, while Airflow is imported anyway
    if dags not in sys.path:   # Airflow 2 adds it in settings; Airflow 3's DAG processor adds the bundle
        sys.path.append(dags)
    warm_up()
    warmup_seconds = time.monotonic() - t_imp - import_seconds
    install_mocks()
    install_exec_capture()
    files = req.get("files")
    if files is None:
        from airflow.utils.file import list_py_file_paths
        files = list_py_file_paths(dags)   # honours .airflowignore and DAG_DISCOVERY_SAFE_MODE
    paths = sorted(os.path.abspath(os.path.join(root, f)) for f in files)
    results = run_pool(paths, float(req.get("timeoutSeconds") or 30), max(1, int(req.get("parallelism") or 1)))
    owners = {}   # files are parsed in separate DagBags, so cross-file duplicate dag_ids are reported here
    for res in results:
        for dag_id in res["dagIds"]:
            owners.setdefault(dag_id, []).append(res["path"])
    return {"ok": True, "airflowVersion": airflow_version(), "python": sys.version.split()[0],
            "importSeconds": round(import_seconds, 3), "warmupSeconds": round(warmup_seconds, 3),
            "totalSeconds": round(time.monotonic() - t0, 3), "files": results,
            "duplicateDagIds": {k: v for k, v in owners.items() if len(v) > 1}}


# ----------------------------------------------------------------------------- info
def info_doc():
    """Facts about the imported Airflow: version, alembic heads, the whole migration chain (newest first)."""
    import airflow
    from airflow.utils import db as dbu
    from alembic.script import ScriptDirectory
    t0, pkg_dir = time.monotonic(), os.path.dirname(airflow.__file__)
    try:
        script = dbu._get_script_object()
    except Exception:
        script = ScriptDirectory(os.path.join(pkg_dir, "migrations"))
    doc = {"ok": True, "airflowVersion": airflow_version(), "python": sys.version.split()[0],
           "alembicHeads": list(script.get_heads()),
           "revisionHeadsMap": dict(getattr(dbu, "_REVISION_HEADS_MAP", None) or {})}
    migrations = []
    for rev in script.walk_revisions():   # newest first
        down = rev.down_revision
        migrations.append({"revision": rev.revision,
                           "downRevision": list(down) if isinstance(down, (tuple, list)) else down,
                           "description": (rev.doc or "").strip(),
                           "airflowVersion": getattr(rev.module, "airflow_version", None)})
    doc["migrations"] = migrations
    doc["seconds"] = round(time.monotonic() - t0, 3)
    return doc


def cmd_info(args):
    home = tempfile.mkdtemp(prefix="airlock-info-")
    try:
        prepare_env(home, os.path.join(home, "airflow.db"), defaults={"AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
        try:
            import airflow  # noqa: F401
        except BaseException as exc:
            return err_doc(exc, "cannot import Airflow: ")
        return info_doc()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="dag_parse_harness.py")
    sub = ap.add_subparsers(dest="mode", required=True)
    for mode, opts in (("parse", ("--request",)), ("info", ())):
        p = sub.add_parser(mode)
        for opt in opts + ("--out",):
            p.add_argument(opt, required=True)
    args = ap.parse_args(argv)
    out = os.path.abspath(args.out)
    sys.stdout.flush()
    os.dup2(2, 1)   # keep stdout clean: Airflow 3 logs to stdout
    try:
        doc = {"parse": cmd_parse, "info": cmd_info}[args.mode](args)
    except BaseException as exc:
        doc = err_doc(exc)
    write_json(out, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
