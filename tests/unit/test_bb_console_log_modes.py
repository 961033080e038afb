"""Console logs found open to other users are made private when the relay opens them.

``os.open(..., 0o600)`` and ``makedirs(mode=0o700)`` only set the modes of
what they create; a log directory, log or rotated log left 0755/0644 by an
older version or a restore kept them, console output readable by anyone.
"""

import logging
import os
import stat

from hwdrivers.conductor import console_log


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_loose_directory_log_and_backups_are_made_private(tmp_path, caplog):
    directory = tmp_path / "console"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)
    path = directory / "n.log"
    for name, text in (("n.log", b"old\n"), ("n.log.1", b"older\n"), ("n.log.2", b"oldest\n")):
        (directory / name).write_bytes(text)
        os.chmod(directory / name, 0o644)
    log = console_log.ConsoleLog(str(path), max_bytes=1 << 20, backups=2)
    with caplog.at_level(logging.WARNING, logger=console_log.__name__):
        log.write(b"new\n")
    log.close()
    assert _mode(directory) == 0o700
    assert [_mode(directory / name) for name in ("n.log", "n.log.1", "n.log.2")] == [0o600] * 3
    assert path.read_bytes() == b"old\nnew\n"  # nothing lost
    assert "open to other users" in caplog.text and "n.log.1" in caplog.text


def test_private_files_are_left_alone_without_a_warning(tmp_path, caplog):
    path = tmp_path / "console" / "n.log"
    log = console_log.ConsoleLog(str(path), max_bytes=1 << 20, backups=1)
    with caplog.at_level(logging.WARNING, logger=console_log.__name__):
        log.write(b"x")
    log.close()
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    assert "open to other users" not in caplog.text


def test_a_mode_that_cannot_change_does_not_stop_the_log(tmp_path, caplog, monkeypatch):
    path = tmp_path / "n.log"
    path.write_bytes(b"")
    os.chmod(path, 0o644)

    def refuse(target, mode):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(console_log.os, "chmod", refuse)
    log = console_log.ConsoleLog(str(path), max_bytes=1 << 20, backups=0)
    with caplog.at_level(logging.WARNING, logger=console_log.__name__):
        log.write(b"kept\n")
    log.close()
    assert path.read_bytes() == b"kept\n"
    assert "cannot restrict the mode" in caplog.text
