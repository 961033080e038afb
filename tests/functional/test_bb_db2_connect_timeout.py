"""libpq's "connection timeout expired" names the setting that bounds it.

A server that accepts the connection and never answers ends in libpq's
"connection timeout expired", which says neither how long it waited nor
where that is set: the message now adds ``connect_timeout`` (its value) and
``?connect_timeout=N`` in ``[database] connection``, never the password.
"""

import os
import subprocess
import sys

import pytest

from hwdrivers.common import exception
from hwdrivers.db import engine as db_engine

BIN = os.path.dirname(sys.executable)
HINT = ("connection timeout expired (no answer within connect_timeout = 1s; for a "
        "server that is slow to answer, set ?connect_timeout=N in [database] connection)")


def _url(peer):
    return ("postgresql+psycopg://ops:hunter2-not-shown@127.0.0.1:%d/fleet"
            "?connect_timeout=1" % peer.port)


def test_dbsync_names_the_setting(tmp_path, tcp_blackhole):
    conf = tmp_path / "hwdrivers.conf"
    conf.write_text("[database]\nconnection = %s\n" % _url(tcp_blackhole))
    result = subprocess.run([os.path.join(BIN, "hwdrivers-dbsync"), "--config-file",
                             str(conf), "version"], capture_output=True, text=True,
                            timeout=120, env=dict(os.environ,
                                                  HWDRIVERS_STATE_PATH=str(tmp_path / "s")))
    assert result.returncode == 1
    assert result.stderr == (
        "hwdrivers-dbsync: error: cannot use the database fleet on 127.0.0.1:%d ([database] "
        "connection): %s\n" % (tcp_blackhole.port, HINT)), result.stderr


def test_a_request_s_database_unavailable_names_the_setting(config, tcp_blackhole):
    db_engine.dispose()
    config(database__connection=_url(tcp_blackhole))
    try:
        with pytest.raises(exception.DatabaseUnavailable) as caught:
            with db_engine.reader():
                pass
    finally:
        db_engine.dispose()
    assert caught.value.kwargs["reason"] == HINT
    assert "hunter2" not in str(caught.value)
