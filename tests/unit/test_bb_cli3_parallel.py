"""--parallel is bounded: one thread per node in flight.

``--parallel 100000`` over a fleet-sized selection started as many threads
(and failed with "can't start new thread" when the system refused one); the
server's workers and the per-controller queues bound what far fewer keep busy.
"""

import pytest

from hwdrivers.cli import bulk
from hwdrivers.cmd import cli
from hwdrivers.common import exception


@pytest.mark.parametrize("value", ["0", str(bulk.MAX_PARALLEL + 1), "100000", "x"])
def test_the_option_names_its_range(value, capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["node", "power", "on", "--all", "--parallel", value])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "--parallel takes a whole number of nodes, 1 or more and at most %d" \
        % bulk.MAX_PARALLEL in err


def test_the_library_call_is_bounded_too():
    with pytest.raises(exception.InvalidParameterValue, match="from 1 to %d; got 5000"
                       % bulk.MAX_PARALLEL):
        bulk.run(["a"], lambda ident: None, "power on", parallel=5000)
    results = bulk.run(["a"], lambda ident: "done", "power on", parallel=bulk.MAX_PARALLEL)
    assert [r["result"] for r in results] == ["done"]


@pytest.mark.parametrize("argv, words", [
    (["node", "power", "on", "web1", "--parallel", "4"], "--parallel applies to many nodes"),
    (["node", "power", "status", "web1", "--soft"], "apply to a power change"),
    (["node", "power", "status", "web1", "--power-timeout", "5"], "apply to a power change"),
])
def test_options_that_would_do_nothing_are_refused(argv, words, tmp_path, monkeypatch):
    """They were taken and ignored: the operator believed they had an effect."""
    monkeypatch.setenv("HWDRIVERS_STATE_PATH", str(tmp_path))
    monkeypatch.delenv("HWDRIVERS_URL", raising=False)
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    assert words in str(caught.value.code)  # printed by Python, exit status 1
