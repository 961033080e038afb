"""Persistence: SQLAlchemy tables, a functional API over them, migrations.

Callers use :mod:`hwdrivers.db.api` (plain functions returning plain
dicts) and :mod:`hwdrivers.db.migration`; the engine and the tables are
implementation details kept behind them so the storage can change without
touching the conductor.
"""
