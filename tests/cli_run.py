"""``run(*args)``: the ``hwdrivers`` command in this process, its output captured."""

from hwdrivers.cmd import cli


def runner(conf, capsys):
    """A ``run(*args, expect=0)`` for ``--config-file conf``: (stdout, stderr).

    It asserts the exit status, printing both streams when it differs.
    """
    def run(*args, expect=0):
        code = cli.main(["--config-file", str(conf)] + list(args))
        out, err = capsys.readouterr()
        assert code == expect, "exit %s: %s %s" % (code, out, err)
        return out, err
    return run
