"""Parent key on canonical records, for retiring children that vanished from a re-read parent.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("canonical_records") as batch:
        batch.add_column(sa.Column("parent_key", sa.String(255)))
    op.create_index("ix_canonical_parent", "canonical_records", ["house", "source_system", "entity", "parent_key"])


def downgrade() -> None:
    op.drop_index("ix_canonical_parent", "canonical_records")
    with op.batch_alter_table("canonical_records") as batch:
        batch.drop_column("parent_key")
