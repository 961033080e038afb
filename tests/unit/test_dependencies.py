"""Every dependency setup.cfg declares is used: imported, or its command run;
and every distribution hwdrivers imports is declared.

A dependency nobody imports costs every installation and hides what the
project really relies on (futurist and tenacity were declared for months
and never imported). One imported but only brought by another (yaml by
oslo.config, werkzeug by Flask) breaks the day that one stops needing it.
Distribution names map to import names through the installed metadata
(``top_level.txt``, else the distribution's files).
"""

import configparser
import importlib.metadata
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCES = ("hwdrivers", "tests", "tools", "benchmarks", os.path.join("doc", "examples"))

#: Needed by another declared dependency that does not require it itself:
#: checked below by finding the import in that dependency's installed code.
NEEDED_BY = {"pysmi": "pysnmp"}  # pysnmp.smi.compiler, for snmpsim's MIB recordings


def _requirements():
    parser = configparser.ConfigParser()
    parser.read(os.path.join(ROOT, "setup.cfg"))
    lines = parser["options"]["install_requires"].splitlines()
    for extra in parser["options.extras_require"].values():
        lines.extend(extra.splitlines())
    names = set()
    for line in lines:
        name = re.split(r"[<>=!~\[;@ ]", line.strip(), maxsplit=1)[0]
        if name and name != "hwdrivers":  # the testing extra may name its own base
            names.add(name)
    return sorted(names)


def _corpus():
    texts = []
    for top in SOURCES:
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, top)):
            dirnames[:] = [d for d in dirnames if d not in ("__pycache__", "build")]
            for filename in filenames:
                if filename.endswith((".py", ".sh", ".cfg", ".toml")):
                    with open(os.path.join(dirpath, filename), encoding="utf-8") as f:
                        texts.append(f.read())
    with open(os.path.join(ROOT, "tox.ini"), encoding="utf-8") as f:
        texts.append(f.read())
    return "\n".join(texts)


def _modules(dist):
    top = dist.read_text("top_level.txt")
    if top:
        return {line.strip() for line in top.splitlines() if line.strip()}
    names = set()
    for path in dist.files or ():
        first = path.parts[0]
        if first.endswith((".dist-info", ".egg-info")) or first in ("..", "bin"):
            continue
        names.add(first[:-3] if first.endswith(".py") else first)
    return names


def _imports(text, module):
    return re.search(r"^\s*(?:import|from)\s+%s\b" % re.escape(module), text, re.M)


def _used(name, corpus):
    dist = importlib.metadata.distribution(name)
    for module in _modules(dist):
        if _imports(corpus, module) or ("+%s:" % module) in corpus:  # a SQLAlchemy driver
            return "imports %s" % module
    commands = {e.name for e in dist.entry_points if e.group == "console_scripts"}
    commands.update(p.name for p in dist.files or () if "bin" in p.parts[:-1])  # ruff's
    for command in sorted(commands):
        if re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(command), corpus):
            return "runs %s" % command
    for entry in dist.entry_points:
        if entry.group == "pytest11":
            return "pytest plugin %s" % entry.name
    consumer = NEEDED_BY.get(name)
    if consumer:
        for path in importlib.metadata.distribution(consumer).files or ():
            if path.suffix == ".py" and any(
                    _imports(path.read_text(encoding="utf-8"), m) for m in _modules(dist)):
                return "needed by %s (%s)" % (consumer, path)
    return None


def test_every_declared_dependency_is_used():
    corpus = _corpus()
    unused, absent = [], []
    for name in _requirements():
        try:
            if not _used(name, corpus):
                unused.append(name)
        except importlib.metadata.PackageNotFoundError:
            absent.append(name)
    if absent:
        pytest.skip("not installed here, so unchecked: %s" % ", ".join(absent))
    assert not unused, ("declared in setup.cfg but never imported or run: %s; use them "
                        "or drop them" % ", ".join(unused))


def test_the_check_finds_an_unused_dependency():
    corpus = "import flask\nsubprocess.run(['sushy-emulator'])\n"
    assert _used("Flask", corpus) == "imports flask"
    assert _used("sushy-tools", corpus) == "runs sushy-emulator"
    assert _used("bcrypt", corpus) is None


def _imported_distributions(top):
    """``{distribution: module}`` of the third-party modules ``hwdrivers/top`` imports."""
    import ast
    import sys

    owners = importlib.metadata.packages_distributions()
    found = {}
    for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, "hwdrivers", top)):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for filename in filenames:
            if not filename.endswith(".py"):
                continue
            with open(os.path.join(dirpath, filename), encoding="utf-8") as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    module = name.split(".")[0]
                    if module in sys.stdlib_module_names or module == "hwdrivers":
                        continue
                    for dist in owners.get(module, ()):  # None: a script's sibling
                        found.setdefault(dist, module)
    return found


def _canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_imported_distribution_is_declared():
    declared = {_canonical(n) for n in _requirements()}
    missing = sorted("%s (imports %s)" % (dist, module)
                     for dist, module in _imported_distributions("").items()
                     if _canonical(dist) not in declared)
    assert not missing, ("hwdrivers imports what setup.cfg does not declare: %s; add them "
                         "to install_requires (or the testing extra for hwdrivers/testing)"
                         % ", ".join(missing))
