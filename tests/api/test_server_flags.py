"""hwdrivers-server --host/--port: change where the API listens without a config edit."""

import json
import signal
import subprocess
import threading
import urllib.request

import pytest

from hwdrivers.cmd import server
from hwdrivers.common import exception
from tests.functional.server_proc import SERVER
from tests.functional.server_proc import ServerProcess
from tests.functional.server_proc import free_tcp_port


def test_flags_are_taken_out_before_oslo_config_sees_them():
    assert server.split_listen_args(["--config-file", "a.conf", "--port", "7000",
                                     "--host=::1"]) == ("::1", 7000, ["--config-file",
                                                                     "a.conf"])
    assert server.split_listen_args(["--config-file", "a.conf"]) == (
        None, None, ["--config-file", "a.conf"])


@pytest.mark.parametrize("argv,fragment", [
    (["--port", "http"], "--port must be a TCP port number from 0 to 65535"),
    (["--port", "70000"], "got '70000'"),
    (["--port"], "argument --port: expected one argument"),
    (["--host"], "argument --host: expected one argument"),
])
def test_bad_flags_are_refused_naming_the_flag(argv, fragment):
    with pytest.raises(exception.ConfigInvalid, match=fragment):
        server.split_listen_args(argv)


def run_server(argv, timeout=60):
    """Start hwdrivers-server; (process, first "serving on" line) or its exit output."""
    proc = subprocess.Popen([SERVER] + argv, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    found = {}

    def read():
        for line in proc.stdout:
            found.setdefault("lines", []).append(line)
            if "serving on" in line:
                found["serving"] = line.strip()
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    return proc, found


def test_port_and_host_flags_override_the_config(tmp_path):
    config = ServerProcess(tmp_path)  # writes the config (API on another port); not started
    port = free_tcp_port()
    proc, found = run_server(["--config-file", str(config.config_path), "--port", str(port),
                              "--host", "127.0.0.1"])
    try:
        assert found.get("serving") == (
            "hwdrivers-server: serving on http://127.0.0.1:%d" % port), found
        with urllib.request.urlopen("http://127.0.0.1:%d/v1" % port, timeout=30) as resp:
            assert resp.status == 200 and "id" in json.load(resp)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0


def test_host_flag_is_checked_like_the_option(tmp_path):
    """--host beyond loopback with noauth is refused as [api] host would be."""
    config = ServerProcess(tmp_path)
    result = subprocess.run([SERVER, "--config-file", str(config.config_path),
                             "--host", "0.0.0.0"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert "[api] host = 0.0.0.0 is not a loopback address" in result.stderr
