"""Alembic environment for hwdrivers.

:mod:`hwdrivers.db.migration` passes an open connection (already in a
transaction, see there) in ``config.attributes['connection']``; the alembic
command line passes nothing, and then the engine of the hwdrivers config is
used. SQLite cannot ALTER most things, so operations run in batch mode
there (copy-and-swap tables).
"""

from alembic import context

from hwdrivers.db import models

config = context.config


def _run(connection):
    context.configure(
        connection=connection,
        target_metadata=models.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # The alembic CLI: read the hwdrivers config the way the services do.
    from hwdrivers import conf as hw_conf
    from hwdrivers.db import engine as db_engine

    hw_conf.CONF([], project="hwdrivers")
    with db_engine.get_write_engine().connect() as conn:
        _run(conn)


if context.is_offline_mode():
    raise SystemExit("hwdrivers migrations run online only (hwdrivers-dbsync upgrade)")
run_migrations_online()
