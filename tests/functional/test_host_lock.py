"""One process per ``[DEFAULT] host`` on a PostgreSQL database.

Two ``hwdrivers-server`` processes under one host name (a copy of a
config on a second machine) each took the other for a previous life of
their own: the one starting released the running one's locks and aborted
its operations. PostgreSQL's advisory lock of the host tells a live holder
from a dead one; run with the real server, on a private schema.
"""

import subprocess

from tests.fixtures import db as db_fixtures
from tests.functional import server_proc


def test_a_second_server_under_one_host_is_refused_until_the_first_is_gone(
        tmp_path, _postgresql):
    schema = _postgresql.create_schema()
    options = {"database": {"connection": db_fixtures.pg_url(schema)}}
    try:
        first = server_proc.ServerProcess(tmp_path, name="first", host="lab-1",
                                          options=options).start()
        try:
            second = server_proc.ServerProcess(tmp_path, name="second", host="lab-1",
                                               options=options)
            result = subprocess.run([server_proc.SERVER, "--config-file",
                                     str(second.config_path)],
                                    capture_output=True, text=True, timeout=60)
            assert result.returncode == 1, result.stdout + result.stderr
            line = result.stderr.strip().splitlines()[-1]
            assert "[DEFAULT] host = lab-1 is already running" in line, line
            assert "serving on" not in result.stdout
            # Another host name on the same database is another process: it starts.
            other = server_proc.ServerProcess(tmp_path, name="other", host="lab-2",
                                              options=options).start()
            assert other.stop() == 0, other.log()
        finally:
            first.kill()  # as a crash: the database drops the lock with the session
        second.start()
        assert second.stop() == 0, second.log()
    finally:
        _postgresql.drop_schema(schema)
