"""tools/serve.sh says what it does, and hands the migration only the config files.

Run on a copy of the script beside stand-in ``.venv/bin`` commands that
record their arguments, so no install happens.
"""

import os
import pathlib
import shutil
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _fake_tree(tmp_path):
    (tmp_path / "tools").mkdir()
    shutil.copy(ROOT / "tools" / "serve.sh", tmp_path / "tools" / "serve.sh")
    for name in ("setup.cfg", "setup.py"):
        (tmp_path / name).write_text("")
    bindir = tmp_path / ".venv" / "bin"
    bindir.mkdir(parents=True)
    for name in ("python", "hwdrivers-dbsync", "hwdrivers-server"):
        script = bindir / name
        script.write_text('#!/bin/sh\necho "%s $*" >> "%s"\n' % (name, tmp_path / "calls"))
        script.chmod(0o755)
    return tmp_path


def _serve(tree, *args):
    result = subprocess.run(["bash", str(tree / "tools" / "serve.sh"), *args],
                            capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, PYTHON="false"))
    assert result.returncode == 0, result.stderr
    return result.stderr, (tree / "calls").read_text().splitlines()


def test_serve_says_each_step_and_filters_dbsync_arguments(tmp_path):
    tree = _fake_tree(tmp_path)
    err, calls = _serve(tree, "--config-file", "/etc/x.conf", "--port", "6390")
    steps = [line for line in err.splitlines() if line.startswith("serve.sh: ")]
    assert [s.split()[1] for s in steps] == ["installing", "installed", "migrating",
                                             "starting"]
    assert "hwdrivers-dbsync --config-file /etc/x.conf upgrade" in calls
    assert calls[-1] == "hwdrivers-server --config-file /etc/x.conf --port 6390"
    # Installed already and setup.cfg unchanged: no second install.
    (tree / "calls").write_text("")
    err, calls = _serve(tree, "--port=6391")
    assert "already installed" in err
    assert not any(c.startswith("python") for c in calls)
    assert calls == ["hwdrivers-dbsync upgrade", "hwdrivers-server --port=6391"]
