"""Airlock DAG-parse harness: stdlib + Airflow only; any Python and Airflow (2.3 on) it runs in.

  python dag_parse_harness.py parse --request REQ.json --out RESULT.json
  python dag_parse_harness.py info  --out RESULT.json
  python dag_parse_harness.py relocations --request REQ.json --out RESULT.json

Each mode writes one JSON document to --out and exits 0 (2 = bad command line). stdout is never
used for results (Airflow 3 logs there; fd 1 is pointed at fd 2). `parse` imports Airflow once,
then parses every DAG file in a forked child (parse_one) with at most `parallelism` alive.

Nothing here assumes an Airflow version: `probe()` finds, in the Airflow it runs in, the file-parsing
DagBag and the parameters it takes, the DAG-file lister, the DB initialisation and the classes whose
lookups are mocked. A canary DAG goes through the same child path before the user's files; if it
fails, or the harness itself raises while parsing a file, the run reports `harnessFailure` and no
file gets a verdict (the harness cannot drive this Airflow: a tool failure, not a DAG failure).
"""
import argparse
import contextlib
import errno
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
# The canary: a DAG every supported Airflow parses. Parsed in the parent to warm the imports, then in
# a child through the same path as the user's files; it must give exactly CANARY_DAG_ID, no error.
CANARY_DAG_ID = "airlock_canary"
CANARY_DAG = """
import datetime
try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG
try:
    from airflow.providers.standard.operators.empty import EmptyOperator
except ImportError:
    from airflow.operators.empty import EmptyOperator
# Bound to a name: Airflow 2.3 bags only module-level DAGs (auto-registration arrived in 2.4).
with DAG(dag_id="%s", start_date=datetime.datetime(2022, 1, 1)) as dag:   # no schedule argument: its name changed
    EmptyOperator(task_id="noop")
""" % CANARY_DAG_ID
# Non-deprecated modules DAG files commonly use, imported in the parent so children start warm.
# Deprecated shims are NOT pre-imported: their import-time warnings must still fire in children.
WARMUP_MODULES = ("airflow.sdk", "airflow.decorators", "airflow.models.baseoperator", "airflow.models.dag",
                  "airflow.providers.standard.operators.bash", "airflow.providers.standard.operators.python",
                  "airflow.sensors.base", "airflow.serialization.serialized_objects", "pendulum")
WARMUP_MODULES_2X = ("airflow.operators.bash", "airflow.operators.python")   # shims on Airflow 3

_MISSING = object()
MOCKED = []      # mock usages while parsing the current file (child-local after fork)
CAPTURED = {}    # abs DAG path -> exception raised while executing it
STARTED = set()  # abs DAG paths whose code began to execute (the exec hook saw them)
STATE = {"projectRoot": "/", "file": None}
ADAPTER = {}     # what probe() found: how to drive the Airflow this runs in


class HarnessFailure(Exception):
    """The harness cannot drive this Airflow (not a problem of the user's DAG files)."""


def write_json(path, doc):
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(printable(doc), fh, indent=1, default=str)
    os.replace(tmp, path)


def printable(value):
    """`value` with lone surrogates (the bytes of a non-UTF-8 file name, as os.walk decodes them) shown as
    `\\xNN`: a JSON reader refuses them, and one such name would otherwise lose every file's result."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            try:
                return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            except UnicodeEncodeError:
                return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {printable(k): printable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [printable(v) for v in value]
    return value


def is_utf8(name):
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def symlink_loops(dags):
    """Links in `dags` that lead to a folder already on the walk or above it (Airflow's lister then gives up
    on the whole folder) or to themselves: {absolute path: message}. Each is reported as that one file's
    error, and the other files are parsed."""
    base = os.path.realpath(dags)
    loops, seen = {}, {base}
    for root, dirs, files in os.walk(dags, followlinks=True):
        keep = []
        for name in sorted(dirs, key=lambda d: os.path.islink(os.path.join(root, d))):   # real folders first: links get the blame
            path = os.path.join(root, name)
            target = os.path.realpath(path)
            if target in seen or base.startswith(target + os.sep):
                loops[path] = "symbolic link to %s, which the walk of the DAG folder already reaches (a loop, or a second way in): not followed" % target
            else:
                seen.add(target)
                keep.append(name)
        dirs[:] = keep
        for name in files:
            path = os.path.join(root, name)
            if os.path.islink(path):
                try:
                    os.stat(path)
                except OSError as exc:
                    if exc.errno == errno.ELOOP:
                        loops[path] = "symbolic link loop: it never reaches a file"
    return loops


def ignore_rules_without_bom():
    """An `.airflowignore` saved with a UTF-8 BOM: Airflow reads it as text (CRLF and CR already end lines)
    but keeps the BOM in its first pattern, which then never matches. Its rule classes drop it here."""
    try:
        from airflow.utils import file as airflow_file
    except ImportError:
        return
    for name in ("_RegexpIgnoreRule", "_GlobIgnoreRule"):
        compile_ = getattr(getattr(airflow_file, name, None), "compile", None)
        if compile_ is None or getattr(compile_, "airlock_strips_bom", False):
            continue
        def compile_without_bom(pattern, *args, _compile=compile_, **kwargs):
            return _compile(pattern.lstrip("\ufeff") if isinstance(pattern, str) else pattern, *args, **kwargs)
        compile_without_bom.airlock_strips_bom = True
        setattr(getattr(airflow_file, name), "compile", staticmethod(compile_without_bom))


@contextlib.contextmanager
def walk_without(paths):
    """os.walk as Airflow's lister sees it, without descending into `paths` (the loops found above)."""
    real_walk = os.walk
    def walk(top, *args, **kwargs):
        for root, dirs, files in real_walk(top, *args, **kwargs):
            dirs[:] = [d for d in dirs if os.path.join(root, d) not in paths]
            yield root, dirs, files
    os.walk = walk
    try:
        yield
    finally:
        os.walk = real_walk


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
            _note("connection:%s" % conn_id)
            return _placeholder_connection(cls, conn_id)
    return get_connection


def _placeholder_connection(cls, conn_id):
    """A Connection of the family the caller uses (the Task SDK's on Airflow 3, airflow.models' on 2)."""
    if cls.__name__ == "Connection":
        return cls(conn_id=conn_id, conn_type="generic")
    try:
        from airflow.sdk import Connection
        if cls.__module__.startswith("airflow.sdk"):
            return Connection(conn_id=conn_id, conn_type="generic")
    except ImportError:
        pass
    from airflow.models import Connection
    return Connection(conn_id=conn_id, conn_type="generic")


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


# (class name, method) whose lookups fall back to a placeholder; the classes are found by probing.
MOCK_METHODS = (("Variable", "get", _mock_variable), ("BaseHook", "get_connection", _mock_connection),
                ("Connection", "get", _mock_connection))
# Where these classes have lived (2.x models/hooks, 3.x Task SDK); any other loaded airflow module is scanned too.
MOCK_HOMES = ("airflow.models.variable", "airflow.hooks.base", "airflow.sdk", "airflow.sdk.definitions.variable",
              "airflow.sdk.definitions.connection", "airflow.sdk.bases.hook")


def mock_targets():
    """Classes named Variable/BaseHook/Connection that define the looked-up method, in every airflow module
    imported so far (plus MOCK_HOMES), keyed by the class that defines the method (so each is patched once)."""
    import importlib
    for name in MOCK_HOMES:
        try:
            importlib.import_module(name)
        except Exception:
            pass
    found = {}
    for mod_name, mod in list(sys.modules.items()):
        if not mod_name.startswith("airflow") or mod is None:
            continue
        namespace = getattr(mod, "__dict__", {})
        for cls_name, meth, make in MOCK_METHODS:
            cls_ = namespace.get(cls_name)
            if not isinstance(cls_, type):
                continue
            klass = next((k for k in cls_.__mro__ if meth in k.__dict__), None)
            # Connection.get is the Task SDK's lookup; airflow.models' Connection has none to mock.
            if klass is not None and (cls_name != "Connection" or klass.__module__.startswith("airflow.sdk")):
                found[(klass, meth)] = make
    return found


def install_mocks():
    """Real lookup first (env vars, DB, secrets backends); placeholder + note when it fails."""
    os.getenv = _getenv
    patched = []
    for (klass, meth), make in mock_targets().items():
        raw = klass.__dict__[meth]
        if getattr(raw, "_airlock", False):
            continue
        wrapped = classmethod(make(raw.__func__ if isinstance(raw, (classmethod, staticmethod)) else raw))
        wrapped._airlock = True
        setattr(klass, meth, wrapped)
        patched.append("%s.%s.%s" % (klass.__module__, klass.__name__, meth))
    ADAPTER["mocks"] = sorted(patched)


def install_exec_capture():
    """DagBag keeps only a string per import error; keep the exception object too, and note that the
    file's code started to run. Every Airflow (2.x SourceFileLoader, 3.4's definition loaders) builds
    the DAG module with importlib.util.spec_from_loader, then calls loader.exec_module: the hook wraps
    exec_module on the one loader instance that runs the DAG file, so imports nested in the DAG file
    get no extra stack frame (warning stacklevels still point into the DAG file)."""
    import importlib.util
    orig_spec_from_loader = importlib.util.spec_from_loader

    def spec_from_loader(name, loader, *args, **kwargs):
        path = STATE["file"]
        if path and loader is not None:
            try:
                filename = loader.get_filename(name)
            except Exception:
                filename = getattr(loader, "path", None)
            if same_file(str(filename), path) and not getattr(loader, "_airlock", False):
                bound = loader.exec_module

                def exec_module(module):
                    STARTED.add(path)
                    try:
                        return bound(module)
                    except BaseException as exc:
                        CAPTURED[path] = exc
                        raise
                loader.exec_module = exec_module
                loader._airlock = True
        return orig_spec_from_loader(name, loader, *args, **kwargs)
    importlib.util.spec_from_loader = spec_from_loader


# ----------------------------------------------------------------------------- probing
def _params(callable_):
    import inspect
    try:
        return list(inspect.signature(callable_).parameters)
    except (TypeError, ValueError):
        return []


def find_dagbag():
    """The DagBag that parses files: newest home first (3.3 moved it to airflow.dag_processing.dagbag and
    made airflow.models.dagbag's name the DB-backed bag), the one that takes `dag_folder` and has
    `process_file`/`collect_dags`. Returns (class, keyword arguments for one file)."""
    import importlib
    tried = []
    for mod_name in ("airflow.dag_processing.dagbag", "airflow.models.dagbag"):
        try:
            cls_ = getattr(importlib.import_module(mod_name), "DagBag")
        except Exception as exc:
            tried.append("%s.DagBag: %s: %s" % (mod_name, type(exc).__name__, exc))
            continue
        params = _params(cls_.__init__)
        if "dag_folder" not in params or not (hasattr(cls_, "collect_dags") or hasattr(cls_, "process_file")):
            tried.append("%s.DagBag: not a file-parsing DagBag (parameters %s)" % (mod_name, params[1:]))
            continue
        kwargs = {}
        if "include_examples" in params:
            kwargs["include_examples"] = False
        ADAPTER["dagBag"] = "%s.%s" % (cls_.__module__, cls_.__qualname__)
        ADAPTER["dagBagArguments"] = sorted(kwargs)
        return cls_, kwargs
    raise HarnessFailure("no file-parsing DagBag found (%s)" % "; ".join(tried))


def new_dagbag(path):
    cls_, kwargs = ADAPTER["_dagbag"]
    return cls_(dag_folder=path, **kwargs)


def list_dag_files(dags):
    """The DAG files Airflow would parse in `dags` (honours .airflowignore and DAG_DISCOVERY_SAFE_MODE):
    `list_py_file_paths` up to 3.3, else the file-parsing DagBag's own discovery (3.4 definitions)."""
    ignore_rules_without_bom()
    try:
        from airflow.utils.file import list_py_file_paths
    except ImportError:
        list_py_file_paths = None
    if list_py_file_paths is not None:
        ADAPTER["lister"] = "airflow.utils.file.list_py_file_paths"
        return list(list_py_file_paths(dags))
    from pathlib import Path
    from airflow.configuration import conf
    cls_, kwargs = ADAPTER["_dagbag"]
    bag = cls_(dag_folder=dags, collect_dags=False, **kwargs)
    finder = getattr(bag, "_find_definitions", None)
    if finder is None:
        raise HarnessFailure("no DAG-file lister found: neither airflow.utils.file.list_py_file_paths nor "
                             "%s._find_definitions" % ADAPTER["dagBag"])
    ADAPTER["lister"] = "%s._find_definitions" % ADAPTER["dagBag"]
    safe = conf.getboolean("core", "DAG_DISCOVERY_SAFE_MODE", fallback=True)
    return [repr(definition) for _importer, definition in finder(Path(dags), safe_mode=safe)]


def init_database():
    """What `airflow db migrate` runs where that command exists (2.7+: upgradedb, which builds a fresh DB),
    else what `airflow db init` runs (initdb)."""
    from airflow.utils import db as dbu
    try:
        from airflow.cli.commands import db_command
        migrate = hasattr(db_command, "migratedb") and hasattr(dbu, "upgradedb")
    except Exception:
        migrate = False
    if migrate:
        ADAPTER["databaseInit"] = "airflow.utils.db.upgradedb (airflow db migrate)"
        dbu.upgradedb()
    else:
        ADAPTER["databaseInit"] = "airflow.utils.db.initdb (airflow db init)"
        dbu.initdb()


def probe():
    """Finds how to drive this Airflow; HarnessFailure when it cannot."""
    ADAPTER["_dagbag"] = find_dagbag()


def warm_up():
    """Import what parsing a trivial DAG needs, in the parent, before forking (the canary DAG)."""
    import importlib
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
                fh.write(CANARY_DAG)
            new_dagbag(fh.name)
        except Exception:
            pass   # the canary run in a child reports it
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def run_canary(timeout):
    """Parses the canary DAG in a child, exactly like a user's file. None when it passes, else the reason."""
    tmp = tempfile.mkdtemp(prefix="airlock-canary-")
    path = os.path.join(tmp, "airlock_canary_dag.py")
    try:
        with open(path, "w") as fh:
            fh.write(CANARY_DAG)
        res = run_pool([path], max(timeout, 60), 1)[0]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if res.get("outcome") == "ok" and res.get("dagIds") == [CANARY_DAG_ID] and res.get("started"):
        return None
    if res.get("outcome") == "ok" and res.get("dagIds") == [CANARY_DAG_ID]:
        return "the canary DAG parsed, but the harness did not see its code run (the exec hook is not reached)"
    err = res.get("error") or {}
    detail = "%s: %s" % (err.get("type"), err.get("message")) if err else "outcome %s, DAGs %s" % (res.get("outcome"), res.get("dagIds"))
    tb = err.get("traceback") or res.get("stderrTail") or ""
    return "the canary DAG did not parse (%s)%s" % (detail, "\n" + tb[-1500:] if tb else "")


# ----------------------------------------------------------------------------- parse
def qualified_type(exc):
    """The exception's name as a traceback (and so DagBag's import error) prints it: `TypeError`,
    `airflow.exceptions.AirflowException`."""
    module, name = type(exc).__module__, type(exc).__qualname__
    return name if module in ("builtins", "__main__") else "%s.%s" % (module, name)


def error_from_exception(exc, path):
    line = None
    for fs in traceback.extract_tb(exc.__traceback__):
        if same_file(fs.filename, path):
            line = fs.lineno   # innermost frame in the DAG file itself
    if isinstance(exc, SyntaxError) and same_file(exc.filename, path):
        line = exc.lineno
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip().splitlines()
    err = {"type": qualified_type(exc), "message": str(exc), "line": line,
           "traceback": "\n".join(tb[-TRACEBACK_LINES:])}
    cur = exc
    for _ in range(5):   # e.g. ImportError("Could not import ...") wrapping a ModuleNotFoundError
        if isinstance(cur, ModuleNotFoundError) and cur.name:
            err["missingModule"] = cur.name
            break
        cur = cur and (cur.__cause__ or cur.__context__)
    return err


def dag_file_line(text, path):
    """The innermost `File "<path>", line N` of a traceback text (the DAG file's line), or None."""
    line = None
    for chunk in str(text).split('File "')[1:]:
        name, _, rest = chunk.partition('", line ')
        number = rest.split(",")[0].split()[0] if rest.split() else ""
        if same_file(name, path) and number.isdigit():
            line = int(number)
    return line


def error_from_text(text, path):
    """When only DagBag's import-error string exists (cycle, duplicate dag_id, or an Airflow whose loader
    the exec hook does not see): type and message from its last line, the line from its frames."""
    text = str(text).strip()
    last = text.splitlines()[-1] if text.startswith("Traceback") else text
    etype, sep, msg = last.partition(": ")
    if not sep or not etype.replace(".", "").replace("_", "").isalnum():
        etype, msg = "ImportError", last
    err = {"type": etype, "message": msg, "line": dag_file_line(text, path),
           "traceback": "\n".join(text.splitlines()[-TRACEBACK_LINES:])}
    if err["type"] == "ModuleNotFoundError" and msg.startswith("No module named '"):
        err["missingModule"] = msg[len("No module named '"):].split("'")[0]
    return err


def has_user_frame(exc, path):
    return any(same_file(fs.filename, path) for fs in traceback.extract_tb(exc.__traceback__))


def warning_categories(bag, path):
    """Airflow 3.3+ records a file's warnings itself and re-emits them as UserWarning; its record
    (`file:line: module.Category: message`) has the real category: message -> category."""
    categories = {}
    for key, lines in (getattr(bag, "captured_warnings", None) or {}).items():
        for text in lines:
            head, _, tail = str(text).partition(": ")
            category, _, message = tail.partition(": ")
            if category and message and head.rsplit(":", 1)[-1].isdigit():
                categories[message] = category.rsplit(".", 1)[-1]
    return categories


def parse_one(path):
    """Runs in the forked child; returns the per-file result (without seconds/stderrTail). Raises
    HarnessFailure when what went wrong is the harness's, not the file's."""
    STATE["file"] = path
    res = {"path": rel(path), "outcome": "ok", "dagIds": [], "error": None, "warnings": [], "mocked": MOCKED}
    bag = fatal = None
    if not os.path.isfile(path):
        res["outcome"], res["error"] = "error", {"type": "FileNotFoundError", "message": path, "line": None}
        return res
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            bag = new_dagbag(path)
        except BaseException as exc:   # e.g. SystemExit escapes DagBag on Airflow 2.x
            fatal = exc
    STATE["file"] = None
    started = path in STARTED
    res["started"] = started
    if fatal is not None:
        exc = CAPTURED.get(path, fatal)
        if not is_utf8(path) and isinstance(exc, UnicodeError):
            # Airflow (2.x) cannot carry a non-UTF-8 file name: that file's error, not the harness's.
            res["outcome"] = "error"
            res["error"] = {"type": type(exc).__name__, "line": None,
                            "message": "Airflow %s cannot import a file whose name is not valid UTF-8: %s" % (airflow_version(), exc)}
            return res
        if not has_user_frame(exc, path):
            # Raised by the harness or by DagBag around the file, never from the file's code.
            raise HarnessFailure("%s raised %s: %s (no frame of the DAG file in its traceback)" % (
                ADAPTER.get("dagBag"), type(exc).__name__, exc)) from exc
        res["error"] = error_from_exception(exc, path)
    elif bag.import_errors:
        text = bag.import_errors.get(path) or next(iter(bag.import_errors.values()))
        exc = CAPTURED.get(path)
        res["error"] = error_from_exception(exc, path) if exc is not None else error_from_text(text, path)
        res["error"]["airflowMessage"] = str(text)[-2000:]
        if not started and res["error"]["line"] is None:
            raise HarnessFailure("%s reported an error for a file whose code never ran: %s" % (
                ADAPTER.get("dagBag"), str(text)[-1500:]))
    res["dagIds"] = sorted(bag.dag_ids) if bag is not None else []
    res["outcome"] = "ok" if res["error"] is None else "error"
    categories = warning_categories(bag, path) if bag is not None else {}
    seen = set()
    for w in caught:
        category = w.category.__name__
        if category == "UserWarning":
            category = categories.get(str(w.message), category)
        item = {"category": category, "message": str(w.message),
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
        try:
            doc = parse_one(path)
        except Exception as exc:   # the harness's own failure: never a verdict on the file
            traceback.print_exc()
            doc = {"path": rel(path), "outcome": "harness-error", "dagIds": [], "warnings": [], "mocked": [],
                   "error": {"type": type(exc).__name__, "message": str(exc), "line": None,
                             "traceback": traceback.format_exc()[-4000:]}}
        write_json(out_path, doc)
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
    except BaseException as exc:
        return err_doc(exc, "cannot import Airflow: ")
    import_seconds = time.monotonic() - t_imp
    try:
        probe()
    except Exception as exc:
        return harness_failure_doc(exc)
    template, db_path = req.get("databaseTemplate"), req.get("databasePath")
    if template and db_path and not os.path.exists(template):
        # First run in this environment: migrate the throw-away DB here, in the process that already
        # imported Airflow, and keep a pristine copy as the environment's template for later runs.
        from airflow import settings
        try:
            init_database()
        except Exception as exc:
            return harness_failure_doc(exc, "the metadata DB could not be initialised: ")
        settings.engine.dispose()
        staging = "%s.%d.tmp" % (template, os.getpid())
        shutil.copyfile(db_path, staging)
        os.replace(staging, template)
    if req.get("infoOut") and not os.path.exists(req["infoOut"]):
        try:
            write_json(req["infoOut"], info_doc())   # the environment's facts, while Airflow is imported anyway
        except Exception:
            traceback.print_exc()   # not needed to parse; the DB check asks `info` itself and reports its error
    if dags not in sys.path:   # Airflow 2 adds it in settings; Airflow 3's DAG processor adds the bundle
        sys.path.append(dags)
    warm_up()
    warmup_seconds = time.monotonic() - t_imp - import_seconds
    timeout = float(req.get("timeoutSeconds") or 30)
    try:
        install_mocks()
        install_exec_capture()
        files = req.get("files")
        loops = {}
        if files is None:
            loops = symlink_loops(dags)
            with walk_without(loops):
                files = list_dag_files(dags)   # honours .airflowignore and DAG_DISCOVERY_SAFE_MODE
        canary = req.get("canaryCache")
        if not (canary and os.path.exists(canary)):   # once per environment and harness version
            reason = run_canary(timeout)
            if reason:
                raise HarnessFailure(reason)
            if canary:
                write_json(canary, {"ok": True, "airflowVersion": airflow_version(), "adapter": adapter_doc()})
    except Exception as exc:
        return harness_failure_doc(exc)
    paths = sorted(os.path.abspath(os.path.join(root, f)) for f in files)
    results = run_pool(paths, timeout, max(1, int(req.get("parallelism") or 1)))
    for path, res in zip(paths, results):
        if not is_utf8(path):
            res.setdefault("warnings", []).append({"category": "NonUTF8FileName", "line": None, "file": None,
                                                   "message": "the file name is not valid UTF-8 (shown with \\xNN escapes)"})
    for path, message in sorted(loops.items()):
        results.append({"path": rel(path), "outcome": "error", "dagIds": [], "warnings": [], "mocked": [],
                        "error": {"type": "SymlinkLoop", "message": message, "line": None}})
    broken = [r for r in results if r.get("outcome") == "harness-error"]
    if broken:
        err = broken[0]["error"]
        return harness_failure_doc(None, "while parsing %s: %s: %s" % (broken[0]["path"], err.get("type"), err.get("message")),
                                   err.get("traceback"))
    owners = {}   # files are parsed in separate DagBags, so cross-file duplicate dag_ids are reported here
    for res in results:
        for dag_id in res["dagIds"]:
            owners.setdefault(dag_id, []).append(res["path"])
    return {"ok": True, "airflowVersion": airflow_version(), "python": sys.version.split()[0], "adapter": adapter_doc(),
            "importSeconds": round(import_seconds, 3), "warmupSeconds": round(warmup_seconds, 3),
            "totalSeconds": round(time.monotonic() - t0, 3), "files": results,
            "duplicateDagIds": {k: v for k, v in owners.items() if len(v) > 1}}


def adapter_doc():
    return {k: v for k, v in ADAPTER.items() if not k.startswith("_")}


def harness_failure_doc(exc, prefix="", tb=None):
    """The run's result when the harness cannot drive this Airflow: no file results at all."""
    message = prefix + ("%s: %s" % (type(exc).__name__, exc) if exc is not None else "")
    return {"ok": False, "harnessFailure": True, "airflowVersion": airflow_version(), "python": sys.version.split()[0],
            "error": message, "adapter": adapter_doc(),
            "traceback": tb or (traceback.format_exc()[-4000:] if exc is not None else None)}


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


# ----------------------------------------------------------------------------- relocations
SHIM_MARKERS = ("add_deprecated_classes(", "__lazy_imports", "__deprecated_classes")


def relocations_doc(modules):
    """Airflow's own relocation knowledge, read from this environment: every `add_deprecated_classes`
    map (2.x and 3.x shims: airflow.operators, airflow.models, providers, ...) and the deprecated entries
    of the `__lazy_imports` maps behind `__getattr__`; plus which of `modules` import here."""
    import importlib
    import importlib.util
    import airflow
    t0, pkg_dir = time.monotonic(), os.path.dirname(airflow.__file__)
    entries, seen = [], set()

    def add(module, name, target, source):
        key = (module, name, target)
        if target and key not in seen:
            seen.add(key)
            entries.append({"module": module, "name": name, "target": target, "source": source})

    def record(module_imports, package, override=None, *args, **kwargs):
        for group in (module_imports or {}), (override or {}):
            for sub, names in group.items():
                old = package if sub == package else "%s.%s" % (package, sub)
                for name, target in (names or {}).items():
                    add(old, name, target, "add_deprecated_classes")
    try:
        from airflow.utils import deprecation_tools
        real = deprecation_tools.add_deprecated_classes

        def add_deprecated_classes(module_imports, package, *args, **kwargs):
            record(module_imports, package, *(args[:1]), **({"override": kwargs["override_deprecated_classes"]}
                                                            if "override_deprecated_classes" in kwargs else {}))
            return real(module_imports, package, *args, **kwargs)
        deprecation_tools.add_deprecated_classes = add_deprecated_classes
    except Exception:
        pass
    shim_modules = []
    for folder, dirs, names in os.walk(pkg_dir):
        dirs[:] = [d for d in dirs if d not in ("_vendor", "tests", "example_dags", "migrations", "__pycache__", "ui", "www")]
        for name in names:
            if not name.endswith(".py") or name == "deprecation_tools.py":
                continue
            path = os.path.join(folder, name)
            try:
                with open(path, encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
            except OSError:
                continue
            if any(marker in text for marker in SHIM_MARKERS):
                relative = os.path.relpath(path, os.path.dirname(pkg_dir))[:-3].replace(os.sep, ".")
                shim_modules.append(relative[:-len(".__init__")] if relative.endswith(".__init__") else relative)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in sorted(shim_modules):
            try:
                mod = sys.modules.get(name) or importlib.import_module(name)
            except BaseException:
                continue
            for var, value in list(vars(mod).items()):
                if var.endswith("deprecated_classes") and isinstance(value, dict):
                    record(value, name)
                elif var.endswith("lazy_imports") and isinstance(value, dict):
                    for attr, spec in value.items():
                        # 3.x: name -> (module, attribute, deprecated); only the deprecated ones are moves.
                        if isinstance(spec, tuple) and len(spec) == 3 and spec[2]:
                            target_mod = spec[0] if not spec[0].startswith(".") else name.split(".")[0] + spec[0]
                            add(name, attr, target_mod + ("." + spec[1] if spec[1] else ""), "__getattr__")
        importable = {}
        targets = set(e["target"].rsplit(".", 1)[0] for e in entries if "." in e["target"])
        for module in sorted(set(modules) | targets):
            try:
                importable[module] = importlib.util.find_spec(module) is not None
            except BaseException:
                importable[module] = False
    return {"ok": True, "airflowVersion": airflow_version(), "entries": entries, "shimModules": len(shim_modules),
            "importable": importable, "seconds": round(time.monotonic() - t0, 3)}


def cmd_relocations(args):
    with open(args.request, encoding="utf-8") as fh:
        req = json.load(fh)
    home = tempfile.mkdtemp(prefix="airlock-relocations-")
    try:
        prepare_env(home, os.path.join(home, "airflow.db"), defaults={"AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
        try:
            import airflow  # noqa: F401
        except BaseException as exc:
            return err_doc(exc, "cannot import Airflow: ")
        return relocations_doc(req.get("modules") or [])
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="dag_parse_harness.py")
    sub = ap.add_subparsers(dest="mode", required=True)
    for mode, opts in (("parse", ("--request",)), ("info", ()), ("relocations", ("--request",))):
        p = sub.add_parser(mode)
        for opt in opts + ("--out",):
            p.add_argument(opt, required=True)
    args = ap.parse_args(argv)
    out = os.path.abspath(args.out)
    sys.stdout.flush()
    os.dup2(2, 1)   # keep stdout clean: Airflow 3 logs to stdout
    try:
        doc = {"parse": cmd_parse, "info": cmd_info, "relocations": cmd_relocations}[args.mode](args)
    except BaseException as exc:
        doc = err_doc(exc)
    write_json(out, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
