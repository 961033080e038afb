"""hwdrivers-api refuses a [json_rpc] timeout its conductors' hardware waits outlast.

A conductor answers a synchronous hardware call (boot device, sensors, NMI)
within [api] hardware_call_timeout, 504 after that. An API process whose
[json_rpc] timeout ran out first answered 503 "does not answer" and, for
the next seconds, refused every other node of that conductor too: one
slow BMC took a conductor's whole share of the fleet out. The check runs
before the database is touched, so no PostgreSQL is needed here.
"""

import os
import subprocess

import pytest

from tests.functional import scale_cluster


def _run_api(tmp_path, json_rpc_timeout):
    config = tmp_path / "hwdrivers.conf"
    config.write_text("[DEFAULT]\nstate_path = %s\n[database]\nconnection = sqlite:///%s\n"
                      "[api]\nhardware_call_timeout = 120\n[json_rpc]\ntimeout = %s\n"
                      % (tmp_path / "state", tmp_path / "db.sqlite", json_rpc_timeout))
    return subprocess.run(
        [os.path.join(scale_cluster.BIN, "hwdrivers-api"), "--config-file", str(config)],
        capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("json_rpc_timeout", [60, 120, 130])
def test_a_json_rpc_timeout_within_the_hardware_wait_is_refused(tmp_path,
                                                                 json_rpc_timeout):
    result = _run_api(tmp_path, json_rpc_timeout)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("hwdrivers-api: error: [json_rpc] timeout = %gs"
                                    % json_rpc_timeout), result.stderr
    assert "[api] hardware_call_timeout = 120s" in result.stderr
    assert "at least 135s" in result.stderr


def test_the_default_margin_passes_the_check(tmp_path):
    # 135 s is enough: the process goes on to the next check (SQLite is refused).
    result = _run_api(tmp_path, 135)
    assert result.returncode == 1
    assert "is SQLite" in result.stderr and "[json_rpc] timeout" not in result.stderr
