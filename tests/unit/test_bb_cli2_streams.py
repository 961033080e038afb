"""Standard streams an operator's shell may hand over: full, closed.

``hwdrivers node list -f json > nodes.json`` on a full file system was an
OSError traceback, or, with less output than the buffer holds, "Exception
ignored" and exit status 120 at the interpreter's exit; a closed standard
output (``>&-``) or input (``<&-``, Python's sys.stdin is then None) was an
AttributeError traceback.
"""

import os
import subprocess
import sys

import pytest

from hwdrivers.cmd import cli

CLI = os.path.join(os.path.dirname(sys.executable), "hwdrivers")


@pytest.fixture
def conf(tmp_path):
    path = tmp_path / "cli.conf"
    path.write_text("[DEFAULT]\nstate_path = %s\n[database]\nconnection = sqlite:///%s\n"
                    % (tmp_path / "state", tmp_path / "cli.sqlite"))
    return str(path)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_output_is_one_error_line_and_exit_1(conf):
    created = subprocess.run([CLI, "--config-file", conf, "node", "create", "--driver",
                              "fake-hardware", "--name", "f1", "-f", "json"],
                             capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    # Small (the failure comes at the final flush) and large (at a write).
    for argv in (["node", "power", "status", "f1"], ["driver", "properties", "ipmi"]):
        with open("/dev/full", "w") as full:
            done = subprocess.run([CLI, "--config-file", conf] + argv, stdout=full,
                                  stderr=subprocess.PIPE, text=True, timeout=60)
        assert done.returncode == 1, done.stderr
        assert done.stderr == "ERROR: cannot write the output: No space left on device\n"


def test_a_closed_stdout_is_said(conf, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdout", None)
    code = cli.main(["--config-file", conf, "driver", "list"])
    assert code == 1
    assert capsys.readouterr().err == ("ERROR: standard output is closed: give the command "
                                       "somewhere to write, e.g. > /dev/null\n")


@pytest.mark.parametrize("argv, said", [
    (["node", "create", "--driver", "fake-hardware", "--driver-info", "fake_password=-"],
     "ERROR: no line left on standard input for driver_info fake_password"),
    (["--url", "http://127.0.0.1:9", "--username", "ops", "--password-stdin", "node",
      "list"], "ERROR: --password-stdin: standard input is empty"),
    (["--url", "http://127.0.0.1:9", "--username", "ops", "node", "list"],
     "ERROR: no password for API user ops"),
])
def test_a_closed_stdin_is_an_empty_one(conf, capsys, monkeypatch, argv, said):
    monkeypatch.delenv("HWDRIVERS_PASSWORD", raising=False)
    monkeypatch.setattr(sys, "stdin", None)
    code = cli.main(["--config-file", conf] + argv)
    assert code == 1
    assert capsys.readouterr().err.startswith(said)
