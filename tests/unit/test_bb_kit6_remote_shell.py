"""The string ssh hands the remote login shell needs no word splitting.

zsh, a login shell some users choose, does not split an unquoted
variable: ``exec $t sh -c ...`` ran a program named ``timeout -s KILL 31``
there, and every command over SSH failed as "command not found". Shown
with real shells: dash and bash, as they are and with ``IFS=`` (no
splitting, as zsh does), with and without coreutils' ``timeout`` on the
PATH; the command must run, under ``timeout`` when there is one.
"""

import os
import shutil
import subprocess

import pytest

from hwdrivers.drivers.modules import command
from hwdrivers.drivers.modules import shell_template

SHELLS = [shell for shell in ("dash", "bash") if shutil.which(shell)]


@pytest.mark.parametrize("with_timeout", [True, False], ids=["timeout", "no-timeout"])
@pytest.mark.parametrize("splitting", ["split", "no-split"])
@pytest.mark.parametrize("shell", SHELLS)
def test_the_remote_string_runs_in_any_shell(tmp_path, shell, splitting, with_timeout):
    body = shell_template.render(
        'printf "[%s] %s " {v} "$HWDRIVERS_COMMAND_SECRET"; cat /proc/$PPID/comm',
        {"v": "a'b $(x) `y`"})
    remote = command.remote_command(body, 2.5, with_secret=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tools = ["sh", "cat", "printf"] + (["timeout"] if with_timeout else [])
    for tool in tools:
        os.symlink(shutil.which(tool), bin_dir / tool)
    prefix = "IFS=; " if splitting == "no-split" else ""
    result = subprocess.run([shutil.which(shell), "-c", prefix + remote], input="s3 cret\n",
                            capture_output=True, text=True, env={"PATH": str(bin_dir)},
                            timeout=10)
    assert result.returncode == 0, result.stderr
    printed, parent = result.stdout.rsplit(" ", 1)
    assert printed == "[a'b $(x) `y`] s3 cret", result.stdout
    # Under timeout when there is one; else the login shell made way (exec) for sh.
    assert (parent.strip() == "timeout") == with_timeout, result.stdout
