"""A database error's text never carries the statement's values.

SQLAlchemy puts a failed statement's parameters in its error (``[parameters:
...]``), and an unexpected one is logged with its traceback: what the row
held -- a ramdisk's agent token in driver_internal_info, a config drive in
instance_info, both masked in every output -- went into the log. The
engines now hide them (``hide_parameters``); the SQL is still shown.
PostgreSQL's own detail of a NOT NULL violation quotes the whole row
("Failing row contains (...)"): that row is left out too.
"""

import uuid

import pytest
import sqlalchemy as sa

from hwdrivers.db import engine as db_engine
from hwdrivers.db import models

TOKEN = "agent-token-9f2c41d7e5b3a0c6"


def test_a_failed_statement_names_no_value(database):
    with pytest.raises(sa.exc.IntegrityError) as info:
        with db_engine.writer() as conn:
            conn.execute(models.nodes.insert().values(
                uuid=str(uuid.uuid4()), driver=None,  # NOT NULL: refused
                driver_internal_info={"agent_secret_token": TOKEN}))
    text = str(info.value)
    assert "INSERT INTO nodes" in text, text
    assert TOKEN not in text and "parameters hidden" in text, text
    assert TOKEN not in str(info.value.orig)
