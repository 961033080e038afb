"""``hwdrivers-dbsync``: create or upgrade the database schema.

    hwdrivers-dbsync [--config-file F] upgrade [--revision head]
    hwdrivers-dbsync [--config-file F] version
    hwdrivers-dbsync [--config-file F] add-secrets-key
    hwdrivers-dbsync [--config-file F] reencrypt-secrets [--forget-unreadable]

Operators run it before starting the services against PostgreSQL (the
embedded SQLite database is also migrated by the services at startup).
``version`` only reads: an SQLite file this user may not write (another
user's, a read-only directory) is opened read-only, as a WAL database
opened the usual way must write its ``-shm`` file.

The secrets commands rotate the key that encrypts driver_info secrets
(:mod:`hwdrivers.common.secrets`): ``add-secrets-key`` puts a new key on top
of ``[secrets] key_file`` (old keys stay, so everything stays readable; copy
the file to every host), ``reencrypt-secrets`` then re-encrypts every node's
secrets with it (and encrypts any left in plain text); after that the old
keys may be deleted from the file. It exits 1 listing the node and field of
every value no key decrypts, which ``--forget-unreadable`` removes instead so
they can be set again.
Every failure an operator can fix (unreadable config, unreachable database,
a schema newer than this hwdrivers) prints one line naming the problem and
exits 1; tracebacks are for bugs. Options in the config file that nothing
reads are warned about as the services do, and refused when they look like
a misspelling of the setting that says which database (or key file) to
work on: silently migrating the default SQLite database instead is the
worst outcome of a typo here.
"""

import logging
import os
import sqlite3
import sys

import sqlalchemy as sa
from alembic import util as alembic_util
from oslo_config import cfg

from hwdrivers import conf as hw_conf
from hwdrivers.common import exception
from hwdrivers.db import engine as db_engine

CONF = hw_conf.CONF
PROG = "hwdrivers-dbsync"


def _add_command_parsers(subparsers):
    parser = subparsers.add_parser(
        "upgrade", help="Upgrade the schema to a revision (default: the newest).")
    parser.add_argument("--revision", default="head",
                        help="Revision to upgrade to: head (the default, the "
                             "newest) or a revision id such as 0003.")
    subparsers.add_parser("version", help="Print the schema revision of the database.")
    subparsers.add_parser(
        "add-secrets-key",
        help="Put a new key first in [secrets] key_file (older keys are kept).")
    parser = subparsers.add_parser(
        "reencrypt-secrets",
        help="Re-encrypt every node's driver_info secrets with the newest key.")
    parser.add_argument("--forget-unreadable", action="store_true",
                        help="Remove values no key in the file can decrypt (set them "
                             "again afterwards) instead of failing.")


# Not called "command": that name is taken by the [command] option group.
_command_opt = cfg.SubCommandOpt("action", title="Commands", handler=_add_command_parsers,
                                 help="upgrade, version, add-secrets-key or "
                                      "reencrypt-secrets")


def _fail(message):
    sys.stderr.write("%s: error: %s\n" % (PROG, message))
    return 1


def _first_line(error):
    text = str(getattr(error, "orig", None) or error).strip()
    return db_engine.explained(text.splitlines()[0] if text else error.__class__.__name__)


def _setting():
    """The setting that chose the SQLite file, as the messages name it."""
    if CONF.database.connection:
        return "[database] connection"
    return db_engine.state_path_option()


def _add_secrets_key():
    from hwdrivers.common import secrets

    path = CONF.secrets.key_file
    held = (secrets.read_key_file(path, allow_empty=True) if os.path.lexists(path)
            else None)
    if not held and _holds_sealed_secrets():
        # A file with only a new key would leave every stored secret
        # unreadable: the old key must stay in it. Says to restore it.
        if held is None:
            secrets.read_key_file(path)  # raises: does not exist, restore it
        raise secrets.KeyFileError(
            "%s %s holds no key, but the database holds encrypted secrets: restore "
            "the key file they were encrypted with (or, if it is lost, run '%s "
            "reencrypt-secrets --forget-unreadable' and set them again)"
            % (secrets.OPTION, path, PROG))
    count = secrets.add_key(path)
    print("%s now holds %d key(s); the new one encrypts from now on. Copy it to every "
          "host that runs hwdrivers, then run '%s reencrypt-secrets'."
          % (path, count, PROG))
    return 0


def _holds_sealed_secrets():
    """True when a node row holds an encrypted value; False for a database
    without a schema yet (a key file is often made before the first upgrade)."""
    from hwdrivers.db import api as db_api
    from hwdrivers.db import migration

    if migration.version() is None:
        return False
    return db_api.find_sealed_node() is not None


def _schema_refusal(action):
    """Why ``action`` may not write node rows of this database, or None.

    A database without a schema has no nodes table ('no such table: nodes'
    said nothing of the fix), and one at a revision from a newer hwdrivers
    has rows whose meaning this one does not know: rewriting them is the
    newer hwdrivers' job.
    """
    from hwdrivers.db import migration

    current = migration.version()
    if current is None:
        return ("the %s has no schema yet: run '%s upgrade' first; nothing was "
                "changed" % (db_engine.database_label(), PROG))
    known = migration.revisions()
    if current not in known:
        return ("the %s is at schema revision %s, which this hwdrivers does not know "
                "(its newest is %s): run %s from the newer hwdrivers that wrote it; "
                "nothing was changed" % (db_engine.database_label(), current,
                                         known[-1], action))
    return None


def _reencrypt_secrets(forget_unreadable):
    from hwdrivers.db import api as db_api
    from hwdrivers.drivers import factory

    refusal = _schema_refusal("reencrypt-secrets")
    if refusal:
        return _fail(refusal)
    factory.get_registry()  # declares which driver_info fields are secret
    report = db_api.reencrypt_node_secrets(forget_unreadable=forget_unreadable)
    if report["changed"]:
        db_api.purge_old_row_versions()  # no copy of the old values left behind
    print("Checked %(nodes)d node(s): %(sealed)d plain-text secret(s) encrypted, "
          "%(resealed)d re-encrypted with the newest key, %(changed)d node(s) "
          "written." % report)
    for node, field in report["forgotten"]:
        print("Removed unreadable driver_info field %s of node %s: set it again."
              % (field, node))
    if report["busy"]:
        print("%d node(s) changed while this ran and were left as they are: run "
              "it again." % report["busy"])
    if report["unreadable"]:
        listing = ", ".join("%s of node %s" % (field, node)
                            for node, field in report["unreadable"])
        return _fail("no key in %s decrypts %s: put back the key they were "
                     "encrypted with, or run with --forget-unreadable"
                     % (CONF.secrets.key_file, listing))
    return 1 if report["busy"] else 0


def _check_options():
    """Bad values and misspelt database settings refused, other unknown options
    warned about, as the services do (cmd/startup.py); the secrets commands
    refuse a misspelt ``[secrets] key_file`` too (another key file would be
    written or read).
    """
    from hwdrivers.cmd import startup

    for name in CONF.enabled_hardware_types:  # their groups are known, not unknown
        hw_conf.register_hardware_type_group(CONF, name)
    hw_conf.check_values(CONF)
    locating = startup.LOCATING
    if CONF.action.name in ("add-secrets-key", "reencrypt-secrets"):
        locating += (("secrets", "key_file"),)
    startup.refuse_misspelt_locations(PROG, locating)
    startup.warn_unknown_options(CONF)


def _run():
    from hwdrivers.db import migration

    _check_options()
    try:
        if CONF.action.name == "add-secrets-key":
            return _add_secrets_key()
        if CONF.action.name == "reencrypt-secrets":
            return _reencrypt_secrets(CONF.action.forget_unreadable)
        if CONF.action.name == "upgrade":
            revision = CONF.action.revision
            known = migration.revisions()
            if revision != "head" and revision not in known:
                # alembic's relative and symbolic forms (+1, heads, base, a range)
                # either failed with an assertion or moved the schema and then
                # read as a failure: only the names an operator needs are taken.
                return _fail("--revision %r is not a revision of this hwdrivers: give "
                             "head (the newest, %s) or one of %s; nothing was changed"
                             % (revision, known[-1], ", ".join(known)))
            migration.upgrade(revision)
            current = migration.version()
            if revision != "head" and current != revision:
                # Alembic takes an older revision as reached already: say so,
                # rather than print the newer one as if it were asked for.
                return _fail("the database is at revision %s, newer than %s: upgrade "
                             "only moves forward, and nothing was changed (going back "
                             "means restoring a backup taken before the upgrade)"
                             % (current, revision))
            print("Database schema is at revision %s." % current)
        else:
            path = db_engine.configured_sqlite_file()
            if path is not None and not os.path.exists(path):
                # Opening it would create it (and its directory), and "empty
                # database: run upgrade" sent an operator with a mistyped
                # state_path to create a second, empty database.
                print("None (no database file at %s)" % path)
                sys.stderr.write(
                    "%s: there is no database at %s (chosen by %s): for a new installation run "
                    "'%s upgrade'; otherwise point the setting at the existing file. "
                    "Nothing was created\n" % (PROG, path, _setting(), PROG))
                return 0
            # Only reads: an SQLite file this user may not write is readable too.
            db_engine.set_read_only(True)
            current = migration.version()
            print(current or "None (empty database: run 'hwdrivers-dbsync upgrade')")
            known = migration.revisions()
            if current and current not in known:
                sys.stderr.write("%s: the database is at revision %s, which this "
                                 "hwdrivers does not know (its newest is %s): upgrade "
                                 "hwdrivers\n" % (PROG, current, known[-1]))
            elif current and current != known[-1]:
                sys.stderr.write("%s: the database is at revision %s, older than this "
                                 "hwdrivers' %s: run '%s upgrade'\n"
                                 % (PROG, current, known[-1], PROG))
    finally:
        db_engine.dispose()
        db_engine.set_read_only(False)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        CONF.register_cli_opt(_command_opt)
    except cfg.ArgsAlreadyParsedError:  # in-process reuse (tests): start over
        CONF.clear()
        CONF.register_cli_opt(_command_opt)
    from hwdrivers.cmd import startup
    try:
        startup.parse_config(argv, prog=PROG)
    except exception.ConfigInvalid as error:
        return _fail(str(error))
    try:
        code = _run()
    except (cfg.ConfigFileValueError, cfg.Error) as error:
        return _fail("invalid configuration: %s" % error)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as error:
        return _fail("[database] connection is not a usable SQLAlchemy URL: %s"
                     % _first_line(error))
    except (sa.exc.OperationalError, sa.exc.InterfaceError,
            sqlite3.OperationalError) as error:  # sqlite3's own: from our BEGIN
        return _fail("cannot use the %s: %s%s" % (db_engine.database_label(),
                                                  _first_line(error),
                                                  db_engine.space_hint(error)))
    except sa.exc.DBAPIError as error:  # a statement refused: permissions, above all
        if CONF.action.name == "upgrade":
            advice = ("nothing was changed (the upgrade runs in one transaction). Run "
                      "it as a database user allowed to create and alter tables")
        else:
            advice = "check the database user's privileges"
        return _fail("the %s refused %s: %s; %s" % (
            db_engine.database_label(), CONF.action.name, _first_line(error), advice))
    except exception.DatabaseUnusable as error:  # names the file and the fix itself
        return _fail(str(error))
    except exception.DatabaseUnavailable as error:
        return _fail("cannot use the %s: %s" % (db_engine.database_label(),
                                                error.kwargs["reason"]))
    except OSError as error:  # e.g. state_path not creatable
        return _fail("cannot use the %s: %s" % (db_engine.database_label(), error))
    except alembic_util.CommandError as error:
        return _fail(str(error))
    except exception.HWDriversError as error:
        return _fail(str(error))
    except KeyboardInterrupt:
        return 130
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
