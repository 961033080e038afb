"""Node console state: console_enabled and console_error.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

``console_enabled`` is Ironic's field: the node's serial console is on (the
conductor starts it again when it restarts). ``console_error`` says why a
console that was asked for is off (it did not come up, its proxy died too
often, it could not be restarted after a conductor restart).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("console_enabled", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("console_error", sa.Text, nullable=True))


def downgrade():
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("console_error")
        batch.drop_column("console_enabled")
