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
