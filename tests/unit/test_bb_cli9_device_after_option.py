"""DEVICE or NODE may follow an option: ``node boot-device set web1 --persistent pxe``,
``node power off --soft web1``.

argparse fills an optional positional at the first run of positionals, so
DEVICE was left empty at ``web1`` and ``pxe`` refused as "unrecognized
arguments" (exit 2); the one-shot ``boot-device set --driver ipmi pxe`` too.
"""

import pytest

from tests import cli_run


@pytest.fixture
def run(sqlite_database, tmp_path, capsys):
    return cli_run.runner(cli_run.empty_config(tmp_path), capsys, no_traceback=True)


def test_a_device_after_an_option_is_the_device(run):
    run("node", "create", "--driver", "fake-hardware", "--name", "b1")
    out, _ = run("node", "boot-device", "set", "b1", "--persistent", "pxe", "-f", "json",
                 "-c", "boot_device", "-c", "persistent")
    assert out.split() == ["{", '"boot_device":', '"pxe",', '"persistent":', "true", "}"]


def test_the_one_shot_command_takes_it_after_its_driver(run):
    out, _ = run("boot-device", "set", "--driver", "fake-hardware", "disk", "-f", "value",
                 "-c", "boot_device")
    assert out == "disk\n"


@pytest.mark.parametrize("argv, said", [
    (["node", "boot-device", "set", "b1", "--persistent", "nodev"],
     "argument device: invalid choice: 'nodev'"),
    (["node", "boot-device", "set", "b1", "--persistent", "pxe", "more"],
     "unrecognized arguments: pxe more"),
    (["node", "list", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_what_is_not_a_device_is_still_refused(run, capsys, argv, said):
    with pytest.raises(SystemExit) as stop:
        run(*argv)
    assert stop.value.code == 2
    assert said in capsys.readouterr().err


def test_a_node_after_a_power_option_is_the_node(run):
    run("node", "create", "--driver", "fake-hardware", "--name", "p1")
    out, _ = run("node", "power", "off", "--soft", "p1", "-f", "value", "-c", "power_state")
    assert out == "power off\n"
    out, _ = run("node", "power", "on", "--power-timeout", "30", "p1", "-f", "value",
                 "-c", "power_state")
    assert out == "power on\n"
