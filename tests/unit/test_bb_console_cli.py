"""``hwdrivers node console log --kib N``: N is checked as the API checks ?kib=."""

import argparse

import pytest

from hwdrivers.cli import console


def _parser():
    parser = argparse.ArgumentParser(prog="hwdrivers")
    nsub = parser.add_subparsers(dest="node_command")
    console.register(nsub, argparse.ArgumentParser(add_help=False))
    return parser


@pytest.mark.parametrize("kib", ["0", "-5", "many"])
def test_log_kib_must_be_positive(kib, capsys):
    with pytest.raises(SystemExit) as info:
        _parser().parse_args(["console", "log", "db1", "--kib", kib])
    assert info.value.code == 2
    assert "--kib: must be a whole number of KiB, 1 or more" in capsys.readouterr().err


def test_log_kib_accepts_a_positive_number():
    args = _parser().parse_args(["console", "log", "db1", "--kib", "16"])
    assert args.kib == 16


def test_connect_failure_names_the_option_that_sets_the_url_host():
    """The URL's host comes from [console] public_address, not [console] host."""
    import socket

    from hwdrivers.common import exception

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    class Backend:
        def request(self, method, path, body=None, **kwargs):
            return {"console_state": "on", "console_info": {
                "type": "socat", "url": "tcp://127.0.0.1:%d" % port}}

    args = _parser().parse_args(["console", "connect", "db1"])
    with pytest.raises(exception.HWDriversError) as error:
        console.console_connect(args, Backend())
    assert "[console] public_address" in str(error.value), error.value
