"""The public API doc/architecture.md declares: each module listed has an
``__all__`` whose names exist, and every name the table shows is in it."""

import importlib
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| `(hwdrivers(?:\.\w+)+)` \| [^|]+ \| ([^|]+) \|$", re.M)


def rows():
    text = (ROOT / "doc" / "architecture.md").read_text()
    section = text.split("## Public API", 1)[1].split("\n## ", 1)[0]
    return ROW.findall(section)


def test_every_listed_module_exports_what_the_table_names():
    found = rows()
    assert len(found) >= 12, found
    for module_name, names in found:
        module = importlib.import_module(module_name)
        exported = getattr(module, "__all__", None)
        assert exported, "%s has no __all__" % module_name
        missing = [n for n in exported if not hasattr(module, n)]
        assert not missing, "%s.__all__ names what it lacks: %s" % (module_name, missing)
        shown = [n for n in re.findall(r"`(\w+)`", names) if n[0].isalpha()]
        absent = [n for n in shown if n not in exported]
        assert not absent, "the table shows %s.%s, not in __all__" % (module_name, absent)
