"""A console log that cannot be written (disk full) does not turn the console off.

The log's file is made a link to ``/dev/full``: every write fails with
ENOSPC, as on a full disk. The relay used to die on the first write (the
"session up" marker) and the console ended ``failed``, its client cut
off: a full disk on the conductor turned off every console. The console
goes on; the log says what was lost once it can be written again.
"""

import os


from tests.functional import console_env as env
from tests.waits import wait_for


def test_console_survives_an_unwritable_log_and_says_what_was_lost(tmp_path, serial):
    with env.socat_server(tmp_path) as server:
        node = env.create_serial_node(server, "vm1", serial)
        log_dir = tmp_path / "state" / "console"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / ("%s.log" % node)
        os.symlink("/dev/full", log_path)

        env.enable(server, node)
        doc = env.wait_state(server, node, ("on", "failed"))
        assert doc["console_state"] == "on", doc
        wait_for(serial.connected.is_set, 30, message="socat connected to the serial line")
        client = env.Client(env.address(doc))
        serial.write(b"while the disk is full\r\n")
        client.read_until(b"while the disk is full")
        assert env.console_doc(server, node)["console_state"] == "on"
        assert "Console log" in server.log() and "No space left" in server.log()

        # Space again: the log resumes, saying output was lost meanwhile.
        os.unlink(log_path)
        serial.write(b"space again\r\n")
        client.read_until(b"space again")
        wait_for(lambda: log_path.exists() and b"space again" in log_path.read_bytes(), 30,
                 message="the log written again")
        text = log_path.read_bytes()
        assert b"not logged" in text and b"No space left" in text, text
        client.close()
