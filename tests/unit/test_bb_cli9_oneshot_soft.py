"""The one-shot ``power`` refuses an option its action would ignore, as ``node power``.

``hwdrivers power on --driver ... --soft`` powered on hard, and ``power
status --soft`` read the state, both exiting 0: the option was dropped
while the operator took it for applied.
"""

import pytest

from tests import cli_run


@pytest.fixture
def run(tmp_path, capsys):
    return cli_run.runner(cli_run.empty_config(tmp_path), capsys, no_traceback=True)


@pytest.mark.parametrize("argv, said", [
    (["on", "--soft"], "--soft is for 'power off' and 'power reboot'"),
    (["status", "--soft"], "not to 'power status'"),
    (["status", "--power-timeout", "5"], "not to 'power status'"),
])
def test_an_option_the_action_ignores_is_refused(run, argv, said):
    _, err = run("power", *argv, "--driver", "fake-hardware", expect=1)
    assert err.startswith("ERROR: --soft") and said in err


def test_a_soft_power_off_is_still_done(run):
    out, _ = run("power", "off", "--soft", "--driver", "fake-hardware", "-f", "value")
    assert out == "power off\n"
