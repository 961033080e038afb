"""Lowering [console] log_backups bounds the disk again at the next rotation.

Rotated files past the new count (kept under a larger log_backups) were
never touched again: a node's console kept taking the old, larger share.
Real files in a temporary directory.
"""

from hwdrivers.conductor import console_log

UUID = "11111111-2222-3333-4444-555555555555"


def _suffixes(directory):
    return sorted(p.name[len(UUID) + 4:] for p in directory.iterdir()
                  if p.name.startswith(UUID))


def test_rotation_removes_backups_past_the_count(tmp_path):
    path = str(tmp_path / ("%s.log" % UUID))
    (tmp_path / "other.log.7").write_text("not this node's")
    big = console_log.ConsoleLog(path, 4096, 4)
    for _ in range(6):
        big.write(b"x" * 4096)
    big.close()
    assert _suffixes(tmp_path) == ["", ".1", ".2", ".3", ".4"]

    small = console_log.ConsoleLog(path, 4096, 1)  # the operator lowered log_backups
    small.write(b"z")  # the current file is full: rotates
    small.close()
    assert _suffixes(tmp_path) == ["", ".1"]
    assert (tmp_path / "other.log.7").exists()
