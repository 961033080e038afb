"""A fresh database's migration says one line, not alembic's fifteen."""

import logging

from hwdrivers.db import migration


def test_fresh_database_migration_logs_one_line(empty_database, caplog):
    caplog.set_level(logging.INFO)
    assert migration.ensure_schema() == migration.script_head()
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert lines == ["Database schema upgraded from empty to revision %s"
                     % migration.script_head()]
    caplog.clear()
    migration.ensure_schema()  # already at head: nothing to say
    assert [r for r in caplog.records if r.levelno >= logging.INFO] == []


def test_alembic_detail_stays_available_at_debug(empty_database, caplog):
    caplog.set_level(logging.DEBUG)
    migration.upgrade()
    assert any(r.name.startswith("alembic") for r in caplog.records)
