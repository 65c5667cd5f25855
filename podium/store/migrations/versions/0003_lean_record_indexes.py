"""Drop the indexes the primary key already covers.

The canonical id is a UUIDv5 of (house, system, entity, source id), so the primary key enforces the
unique key; house-wide reads use ``ix_canonical_parent`` (house first). Two fewer random B-tree
writes per upserted record.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_canonical_house_entity", "canonical_records")
    with op.batch_alter_table("canonical_records") as batch:
        batch.drop_constraint("uq_canonical_source", type_="unique")


def downgrade() -> None:
    with op.batch_alter_table("canonical_records") as batch:
        batch.create_unique_constraint("uq_canonical_source", ["house", "entity", "source_system", "source_id"])
    op.create_index("ix_canonical_house_entity", "canonical_records", ["house", "entity"])
