"""``hwdrivers-dbsync``: create or upgrade the database schema.

    hwdrivers-dbsync [--config-file F] upgrade [--revision head]
    hwdrivers-dbsync [--config-file F] version

Operators run it before starting the services against PostgreSQL (the
embedded SQLite database is also migrated by the services at startup).
Every failure an operator can fix (unreadable config, unreachable database,
a schema newer than this hwdrivers) prints one line naming the problem and
exits 1; tracebacks are for bugs.
"""

import logging
import sys

import sqlalchemy as sa
from alembic import util as alembic_util
from oslo_config import cfg

from hwdrivers import conf as hw_conf
from hwdrivers.common import exception

CONF = hw_conf.CONF
PROG = "hwdrivers-dbsync"


def _add_command_parsers(subparsers):
    parser = subparsers.add_parser(
        "upgrade", help="Upgrade the schema to a revision (default: the newest).")
    parser.add_argument("--revision", default="head",
                        help="Alembic revision to upgrade to (default: head).")
    subparsers.add_parser("version", help="Print the schema revision of the database.")


# Not called "command": that name is taken by the [command] option group.
_command_opt = cfg.SubCommandOpt("action", title="Commands", handler=_add_command_parsers,
                                 help="upgrade or version")


def _fail(message):
    sys.stderr.write("%s: error: %s\n" % (PROG, message))
    return 1


def _database_label():
    """Where the database is, for messages; never the password."""
    connection = CONF.database.connection
    if not connection:
        return "SQLite database in %s" % CONF.state_path
    try:
        return "database %s" % sa.engine.make_url(connection).render_as_string(
            hide_password=True)
    except Exception:
        return "database of [database] connection"


def _first_line(error):
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else error.__class__.__name__


def _run():
    from hwdrivers.db import engine as db_engine
    from hwdrivers.db import migration

    try:
        if CONF.action.name == "upgrade":
            revision = CONF.action.revision
            migration.upgrade(revision)
            print("Database schema is at revision %s." % migration.version())
        else:
            print(migration.version() or "None (empty database: run "
                  "'hwdrivers-dbsync upgrade')")
    finally:
        db_engine.dispose()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        CONF.register_cli_opt(_command_opt)
    except cfg.ArgsAlreadyParsedError:  # in-process reuse (tests): start over
        CONF.clear()
        CONF.register_cli_opt(_command_opt)
    try:
        CONF(argv, project="hwdrivers", prog=PROG)
    except cfg.ConfigFilesNotFoundError as error:
        return _fail("config file(s) not found: %s" % ", ".join(error.config_files))
    except cfg.ConfigFileParseError as error:
        return _fail("cannot parse config file %s: %s" % (error.config_file, error.msg))
    except cfg.Error as error:
        return _fail("invalid configuration: %s" % error)
    try:
        _run()
    except (cfg.ConfigFileValueError, cfg.Error) as error:
        return _fail("invalid configuration: %s" % error)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as error:
        return _fail("[database] connection is not a usable SQLAlchemy URL: %s"
                     % _first_line(error))
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
        return _fail("cannot use the %s: %s" % (_database_label(),
                                                        _first_line(error)))
    except OSError as error:  # e.g. state_path not creatable
        return _fail("cannot use the %s: %s" % (_database_label(), error))
    except alembic_util.CommandError as error:
        return _fail(str(error))
    except exception.HWDriversError as error:
        return _fail(str(error))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
