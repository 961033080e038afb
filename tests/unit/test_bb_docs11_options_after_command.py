"""hwdrivers' own options (--url, --username, --password-stdin, --config-file,
--version) may follow the command, as -f and -c already may.

``hwdrivers node list --url http://127.0.0.1:6385`` (the order a reader of
"with --url" types) failed with "unrecognized arguments: --url ...", exit
status 2, though ``hwdrivers --url ... node list`` worked: argparse gives a
subcommand's unknown words back unparsed.
"""

import pytest

from hwdrivers.cli import commands

URL = "http://127.0.0.1:6385"


def parse(*argv):
    return commands.parse(commands.build_parser(), list(argv))


def test_url_after_the_command():
    args = parse("node", "list", "--url", URL, "-f", "value")
    assert (args.group, args.command, args.url, args.format) == ("node", "list", URL, "value")


def test_url_between_the_command_and_its_node():
    args = parse("node", "show", "--url", URL, "web1")
    assert (args.url, args.node) == (URL, "web1")
    args = parse("node", "power", "off", "web1", "--url=%s" % URL, "--soft")
    assert (args.url, args.node, args.action, args.soft) == (URL, "web1", "off", True)


def test_user_and_password_stdin_after_the_command():
    args = parse("node", "list", "--username", "admin", "--password-stdin")
    assert (args.username, args.password_stdin) == ("admin", True)


def test_config_files_keep_their_order():
    args = parse("--config-file", "a.conf", "node", "list", "--config-file", "b.conf")
    assert args.config_file == ["a.conf", "b.conf"]


def test_words_before_the_command_are_left_alone():
    args = parse("--url", URL, "-f", "json", "node", "show", "web1")
    assert (args.url, args.format, args.node) == (URL, "json", "web1")
    assert not args.password_stdin


def test_a_node_named_like_an_option_value_stays_the_node():
    # "--url" is moved with its value only; the node after it is untouched.
    args = parse("node", "delete", "n1", "--url", URL, "n2")
    assert (args.url, args.nodes) == (URL, ["n1", "n2"])


@pytest.mark.parametrize("argv, said", [
    (["node", "list", "--bogus"], "unrecognized arguments: --bogus"),
    (["node", "list", "--url", URL, "--bogus"], "unrecognized arguments: --bogus"),
])
def test_other_unknown_options_are_still_refused(capsys, argv, said):
    with pytest.raises(SystemExit) as stop:
        parse(*argv)
    assert stop.value.code == 2
    assert said in capsys.readouterr().err
