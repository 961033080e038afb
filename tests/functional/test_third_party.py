"""A separately packaged driver is found by entry point once enabled in config.

The example package in doc/examples/hwdrivers-gpio is installed into a
private directory (not the test environment), then the real ``hwdrivers``
command runs with that directory on its path: the third-party path, end
to end, with nothing in hwdrivers knowing the plugin's name.
"""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "doc", "examples", "hwdrivers-gpio")


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("plugin-site")
    build = tmp_path_factory.mktemp("plugin-build")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--target", str(site), EXAMPLE],
        check=True, cwd=str(build), capture_output=True)
    return str(site)


def run_cli(plugin_site, state, config_file, *args):
    env = dict(os.environ, PYTHONPATH=plugin_site, HWDRIVERS_STATE_PATH=str(state))
    return subprocess.run(
        [sys.executable, "-m", "hwdrivers.cmd.cli", "--config-file", str(config_file)]
        + list(args), capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def gpio(tmp_path):
    value = tmp_path / "gpio17" / "value"
    value.parent.mkdir()
    value.write_text("0")
    return value


def write_config(tmp_path, enabled):
    path = tmp_path / "hwdrivers.conf"
    types = "fake-hardware,gpio-relay" if enabled else "fake-hardware"
    power = "fake,gpio" if enabled else "fake"
    path.write_text("[DEFAULT]\nenabled_hardware_types = %s\nenabled_power_interfaces = %s\n"
                    "state_path = %s\n" % (types, power, tmp_path / "state"))
    return path


def test_plugin_drives_power_once_enabled(plugin_site, gpio, tmp_path):
    conf = write_config(tmp_path, enabled=True)
    state = tmp_path / "state"
    result = run_cli(plugin_site, state, conf, "power", "on", "--driver", "gpio-relay",
                     "--driver-info", "gpio_value_path=%s" % gpio, "-f", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"power_state": "power on"}
    assert gpio.read_text() == "1"

    result = run_cli(plugin_site, state, conf, "node", "create", "--driver", "gpio-relay",
                     "--name", "board1", "--driver-info", "gpio_value_path=%s" % gpio)
    assert result.returncode == 0, result.stderr
    result = run_cli(plugin_site, state, conf, "node", "power", "off", "board1")
    assert result.returncode == 0, result.stderr
    assert gpio.read_text() == "0"
    result = run_cli(plugin_site, state, conf, "driver", "properties", "gpio-relay",
                     "-f", "json")
    fields = {f["name"]: f for f in json.loads(result.stdout)["power"]}
    assert fields["gpio_value_path"]["required"] is True


def test_plugin_not_enabled_is_refused_by_name(plugin_site, gpio, tmp_path):
    conf = write_config(tmp_path, enabled=False)
    result = run_cli(plugin_site, tmp_path / "state", conf, "power", "on", "--driver",
                     "gpio-relay", "--driver-info", "gpio_value_path=%s" % gpio)
    assert result.returncode == 1
    assert "gpio-relay is not enabled" in result.stderr
    assert "enabled_hardware_types" in result.stderr
    assert gpio.read_text() == "0"


def test_enabled_plugin_missing_is_a_load_error(tmp_path):
    conf = write_config(tmp_path, enabled=True)
    env = dict(os.environ, HWDRIVERS_STATE_PATH=str(tmp_path / "state"))
    result = subprocess.run(
        [sys.executable, "-m", "hwdrivers.cmd.cli", "--config-file", str(conf),
         "driver", "list"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1
    assert "gpio-relay" in result.stderr and "no entry point" in result.stderr
