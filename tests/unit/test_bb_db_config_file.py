"""A --config-file that cannot be read (a directory, no permission): one line.

oslo.config lets the OSError through: hwdrivers-dbsync printed a
traceback, the services a bare "[Errno 21] Is a directory: '...'".
"""

import os
import subprocess
import sys

import pytest

BIN = os.path.dirname(sys.executable)


@pytest.mark.parametrize("command,args", [("hwdrivers-dbsync", ["upgrade"]),
                                          ("hwdrivers-server", []),
                                          ("hwdrivers-conductor", [])])
def test_a_config_file_that_is_a_directory_is_one_line(tmp_path, command, args):
    result = subprocess.run([os.path.join(BIN, command), "--config-file", str(tmp_path)]
                            + args, capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, HWDRIVERS_STATE_PATH=str(tmp_path / "s")))
    assert result.returncode == 1, result.stderr
    assert result.stderr == "%s: error: cannot read config file %s: Is a directory\n" % (
        command, tmp_path)
    assert not (tmp_path / "s").exists()
