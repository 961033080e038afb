"""Rewrite the driver_info tables in doc/drivers/*.md from the declarations.

Each page holds ``<!-- BEGIN driver_info -->`` / ``<!-- END driver_info -->``;
the table between them is generated from the hardware type's interfaces, so
the docs say exactly what validation enforces. ``--check`` fails when a page
is out of date (the test suite runs it).
"""

import argparse
import os
import sys

from hwdrivers import conf as hw_conf
from hwdrivers.common import interface_types
from hwdrivers.drivers import factory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN = "<!-- BEGIN driver_info -->"
END = "<!-- END driver_info -->"


def _registry():
    """A registry with every in-tree hardware type and implementation enabled."""
    from importlib.metadata import entry_points
    conf = hw_conf.CONF
    conf([], project="hwdrivers", default_config_files=[])
    conf.set_override("enabled_hardware_types", sorted(
        ep.name for ep in entry_points(group=interface_types.HARDWARE_TYPES_NAMESPACE)
        if ep.value.startswith("hwdrivers.")))
    for kind in interface_types.ALL:
        conf.set_override("enabled_%s_interfaces" % kind, sorted(
            ep.name for ep in entry_points(group=interface_types.NAMESPACE % kind)
            if ep.value.startswith("hwdrivers.")))
    factory.reset()
    return factory.get_registry()


def table(registry, hw_name):
    """Markdown rows for every field of every usable implementation, once each."""
    rows = ["| field | interface | flags | type | default | description |",
            "| --- | --- | --- | --- | --- | --- |"]
    seen = set()
    for kind in interface_types.ALL:
        for impl_name in registry.usable(hw_name, kind):
            for param in registry.interfaces[kind][impl_name].driver_info_schema:
                if param.name in seen:
                    continue
                seen.add(param.name)
                flags = "required" if param.required else "optional"
                if param.secret:
                    flags += ", secret"
                type_text = param.type
                if param.choices:
                    type_text += " (%s)" % ", ".join(str(c) for c in param.choices)
                default = "" if param.default is None else "`%s`" % (param.default,)
                rows.append("| `%s` | %s: %s | %s | %s | %s | %s |" % (
                    param.name, kind, impl_name, flags, type_text, default,
                    param.description.replace("|", "\\|")))
    return "\n".join(rows) if len(rows) > 2 else "No driver_info fields."


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="Fail if a page is stale.")
    args = parser.parse_args(argv)
    registry = _registry()
    stale = []
    for hw_name in sorted(registry.hardware_types):
        path = os.path.join(ROOT, "doc", "drivers", "%s.md" % hw_name)
        if not os.path.exists(path):
            # Every in-tree hardware type documents itself; a page nobody
            # wrote is as stale as an outdated one.
            print("%s: missing; write it with %s/%s markers" % (path, BEGIN, END),
                  file=sys.stderr)
            stale.append(path)
            continue
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        if BEGIN not in text or END not in text:
            print("%s: no %s/%s markers" % (path, BEGIN, END), file=sys.stderr)
            stale.append(path)
            continue
        before, rest = text.split(BEGIN, 1)
        _, after = rest.split(END, 1)
        new = "%s%s\n%s\n%s%s" % (before, BEGIN, table(registry, hw_name), END, after)
        if new != text:
            stale.append(path)
            if not args.check:
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(new)
                print("updated %s" % os.path.relpath(path, ROOT))
    if args.check and stale:
        print("out of date (run tox -e docs): %s" % ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
