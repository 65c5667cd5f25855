"""Initial store: canonical records, sync state, sync runs, dead letters.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "canonical_records",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("house", sa.String(64), nullable=False),
        sa.Column("entity", sa.String(16), nullable=False),
        sa.Column("source_system", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(255), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("modified", sa.String(32)),
        sa.Column("first_run_id", sa.String(36)),
        sa.Column("last_run_id", sa.String(36)),
        sa.Column("updated_at", TZ, nullable=False),
        sa.UniqueConstraint("house", "entity", "source_system", "source_id", name="uq_canonical_source"),
    )
    op.create_index("ix_canonical_house_entity", "canonical_records", ["house", "entity"])
    op.create_table(
        "sync_state",
        sa.Column("house", sa.String(64), primary_key=True),
        sa.Column("connector", sa.String(64), primary_key=True),
        sa.Column("stream", sa.String(64), primary_key=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(36)),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("house", sa.String(64), nullable=False),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("entity", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("finished_at", TZ),
        sa.Column("pages", sa.Integer, nullable=False),
        sa.Column("read", sa.Integer, nullable=False),
        sa.Column("inserted", sa.Integer, nullable=False),
        sa.Column("updated", sa.Integer, nullable=False),
        sa.Column("unchanged", sa.Integer, nullable=False),
        sa.Column("rejected", sa.Integer, nullable=False),
        sa.Column("deleted", sa.Integer, nullable=False),
        sa.Column("error_class", sa.String(32)),
        sa.Column("error", sa.Text),
        sa.Column("archive_uri", sa.Text),
    )
    op.create_index("ix_sync_runs_hcs", "sync_runs", ["house", "connector", "stream", "started_at"])
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("stream_run_id", sa.String(36), nullable=False),
        sa.Column("house", sa.String(64), nullable=False),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(255)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("schema_path", sa.Text),
        sa.Column("instance_path", sa.Text),
        sa.Column("raw", sa.Text),
        sa.Column("archive_uri", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("replayed_at", TZ),
    )
    op.create_index("ix_dead_letters_hcs", "dead_letters", ["house", "connector", "stream", "status"])


def downgrade() -> None:
    op.drop_table("dead_letters")
    op.drop_table("sync_runs")
    op.drop_table("sync_state")
    op.drop_table("canonical_records")
