"""Bulk selection at fleet size: a node file of 100,000 lines, a glob over as many nodes.

Repeats were dropped with a list's ``not in``, quadratic: a file of 100,000
names took a minute to read, and two more with --name-glob, before any node
started. The bounds below are about a hundred times what the work takes, and
a tenth of what it took.
"""

import time

from hwdrivers.cli import bulk

N = 100_000


class _Nodes:
    def __init__(self, names):
        self.nodes = [{"name": name, "uuid": "uuid-%d" % n} for n, name in enumerate(names)]

    def node_list(self, filters=None, limit=None):
        return self.nodes


def test_a_node_file_of_a_fleet_is_read_in_order_without_repeats(tmp_path):
    path = tmp_path / "nodes.txt"
    names = ["node-%06d" % n for n in range(N)]
    path.write_text("# rack list\n" + "\n".join(names + names[:10]) + "\n\n")
    started = time.monotonic()
    idents = bulk.read_node_file(str(path))
    assert time.monotonic() - started < 5
    assert idents == names


def test_a_glob_over_a_node_file_of_a_fleet_keeps_the_file_order(tmp_path):
    names = ["node-%06d" % n for n in range(N)]
    path = tmp_path / "nodes.txt"
    wanted = list(reversed(names)) + ["ghost"]
    path.write_text("\n".join(wanted) + "\n")
    backend = _Nodes(names)
    started = time.monotonic()
    chosen = bulk.select(backend, name_glob="node-*", path=str(path))
    assert time.monotonic() - started < 5
    # In the file's order; a name no node has is kept, to be reported.
    assert chosen == wanted


def test_a_node_named_twice_in_a_file_runs_once(tmp_path):
    """By its name and by its UUID: it ran twice at once, and the second run
    failed on the first one's lock (exit status 1 for a node that was fine)."""
    backend = _Nodes(["web1", "web2"])
    backend.nodes.append({"name": None, "uuid": "uuid-unnamed"})
    path = tmp_path / "nodes.txt"
    path.write_text("web1\nuuid-0\nuuid-unnamed\nweb2\nuuid-unnamed\nghost\nghost\n")
    assert bulk.select(backend, path=str(path)) == ["web1", "uuid-unnamed", "web2",
                                                    "ghost"]


def test_a_node_file_may_spell_a_uuid_in_capitals(tmp_path):
    node_uuid = "6f9619ff-8b86-d011-b42d-00cf4fc964ff"
    backend = _Nodes([])
    backend.nodes = [{"name": "web1", "uuid": node_uuid}]
    path = tmp_path / "nodes.txt"
    path.write_text("web1\n%s\n" % node_uuid.upper())
    assert bulk.select(backend, path=str(path)) == ["web1"]
