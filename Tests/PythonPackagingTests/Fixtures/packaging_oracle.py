"""Oracle for the PythonPackaging differential test.

Reads a JSON corpus (path in argv[1]) written by DifferentialTests.swift and prints one JSON
object per line with what Python's `packaging` library says about every case. The first line
describes the interpreter and the packaging version. It never "fixes up" packaging's answers:
whatever packaging returns (or raises) is reported.
"""

import json
import sys

try:
    import packaging
    from packaging.markers import Marker
    from packaging.requirements import Requirement
    from packaging.specifiers import Specifier, SpecifierSet
    from packaging.utils import canonicalize_name
    from packaging.version import Version
except ImportError as error:  # pragma: no cover - reported to the Swift test
    print(json.dumps({"t": "error", "message": f"cannot import packaging: {error}"}))
    sys.exit(3)


def parse_version(text):
    try:
        return Version(text)
    except Exception:
        return None


def parse_spec(text):
    try:
        return Specifier(text)
    except Exception:
        return None


def parse_set(text):
    try:
        return SpecifierSet(text)
    except Exception:
        return None


def cmp(a, b):
    return -1 if a < b else (1 if a > b else 0)


def linux_environment(python, extra):
    parts = python.split(".")
    full = python if len(parts) >= 3 else ".".join(parts + ["0"] * (3 - len(parts)))
    return {
        "implementation_name": "cpython",
        "implementation_version": full,
        "os_name": "posix",
        "platform_machine": "x86_64",
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": full,
        "python_version": ".".join(parts[:2]),
        "sys_platform": "linux",
        "extra": extra,
    }


def main():
    with open(sys.argv[1], encoding="utf-8") as handle:
        corpus = json.load(handle)
    out = sys.stdout
    emit = lambda obj: out.write(json.dumps(obj) + "\n")
    emit({"t": "info", "packaging": packaging.__version__, "python": sys.version.split()[0]})

    versions = {}

    def version(text):
        if text not in versions:
            versions[text] = parse_version(text)
        return versions[text]

    for i, text in enumerate(corpus["versions"]):
        v = version(text)
        emit({"t": "v", "i": i, "ok": v is not None, "s": str(v) if v is not None else None})

    for i, (a, b) in enumerate(corpus["pairs"]):
        va, vb = version(a), version(b)
        r = None
        if va is not None and vb is not None:
            r = cmp(va, vb)
        emit({"t": "c", "i": i, "r": r})

    specs = {}
    for i, text in enumerate(corpus["specs"]):
        s = parse_spec(text)
        specs[text] = s
        emit({"t": "s", "i": i, "ok": s is not None, "str": str(s) if s is not None else None})

    for i, (spec_text, version_text) in enumerate(corpus["specChecks"]):
        s = specs.get(spec_text) or parse_spec(spec_text)
        v = version(version_text)
        r = None
        if s is not None and v is not None:
            r = [s.contains(v), s.contains(v, prereleases=True), s.contains(v, prereleases=False)]
        emit({"t": "sc", "i": i, "r": r})

    sets = {}
    for i, text in enumerate(corpus["sets"]):
        s = parse_set(text)
        sets[text] = s
        emit({"t": "S", "i": i, "ok": s is not None, "str": str(s) if s is not None else None})

    for i, (set_text, version_text) in enumerate(corpus["setChecks"]):
        s = sets.get(set_text) or parse_set(set_text)
        v = version(version_text)
        r = None
        if s is not None and v is not None:
            r = [s.contains(v), s.contains(v, prereleases=True), s.contains(v, prereleases=False)]
        emit({"t": "Sc", "i": i, "r": r})

    for i, name in enumerate(corpus["names"]):
        emit({"t": "n", "i": i, "s": canonicalize_name(name)})

    for i, text in enumerate(corpus["requirements"]):
        try:
            req = Requirement(text)
        except Exception:
            emit({"t": "r", "i": i, "ok": False})
            continue
        emit({
            "t": "r",
            "i": i,
            "ok": True,
            "name": req.name,
            "extras": sorted({canonicalize_name(e) for e in req.extras}),
            "spec": str(req.specifier),
            "url": req.url,
            "marker": str(req.marker) if req.marker is not None else None,
        })

    for i, (text, python, extra) in enumerate(corpus["markers"]):
        try:
            marker = Marker(text)
        except Exception:
            emit({"t": "m", "i": i, "ok": False, "r": None})
            continue
        try:
            result = marker.evaluate(linux_environment(python, extra))
        except Exception:
            result = None
        emit({"t": "m", "i": i, "ok": True, "r": result})


if __name__ == "__main__":
    main()
