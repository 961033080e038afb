"""The schema-change lock is per schema, not per database.

PostgreSQL's advisory locks belong to a database; the upgrade lock had one
key for all, so two deployments in two schemas of one database waited for
each other's upgrades (and the waiting one named the other's backend).
"""

import os
import subprocess
import sys

import sqlalchemy as sa

from hwdrivers.db import migration

DBSYNC = os.path.join(os.path.dirname(sys.executable), "hwdrivers-dbsync")


def test_an_upgrade_in_one_schema_does_not_wait_for_another_schema(tmp_path, _postgresql):
    busy, free = _postgresql.create_schema(), _postgresql.create_schema()
    conf = tmp_path / "hwdrivers.conf"
    conf.write_text("[database]\nconnection = %s\n" % _postgresql.schema_url(free))
    env = dict(os.environ, HWDRIVERS_STATE_PATH=str(tmp_path / "state"))
    engine = sa.create_engine(_postgresql.schema_url(busy))
    try:
        with engine.connect() as first, first.begin():
            migration._pg_schema_lock(first)  # an upgrade of schema `busy` under way
            second = subprocess.Popen([DBSYNC, "--config-file", str(conf), "upgrade"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=env)
            waited = ""
            for line in second.stderr:  # to its end, or to the line saying it waits
                if "Another process is changing" in line:
                    waited = line
                    break
        # `busy` is released here, so a second that waits is not left hanging
        out, err = second.communicate(timeout=120)
        assert waited == "", waited
        assert second.returncode == 0, err
        assert "Database schema is at revision" in out
        # the key is the same in every process, and one per schema
        assert migration.pg_lock_key(busy) == migration.pg_lock_key(busy)
        assert migration.pg_lock_key(busy) != migration.pg_lock_key(free)
    finally:
        engine.dispose()
        _postgresql.drop_schema(busy)
        _postgresql.drop_schema(free)
