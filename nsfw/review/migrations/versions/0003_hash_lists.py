"""Known content: items' PDQ hashes and the decision a near-duplicate follows; hash lists (issue 20).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from nsfw.review.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("review_items") as batch:
        batch.add_column(sa.Column("pdq", sa.String(64), nullable=True))
        batch.add_column(sa.Column("pdq_quality", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("follows", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("match_distance", sa.Integer(), nullable=True))
    op.create_table(
        "hash_lists",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("name", name="uq_hash_lists_name"),
    )
    op.create_table(
        "hash_list_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("list_id", sa.Integer(), sa.ForeignKey("hash_lists.id", ondelete="CASCADE"), nullable=False),
        sa.Column("pdq", sa.String(64), nullable=False),
        sa.Column("distance", sa.Integer(), nullable=True),
        sa.Column("quality", sa.Integer(), nullable=True),
    )
    op.create_index("ix_hash_list_entries_list_id", "hash_list_entries", ["list_id"])
    versions = op.create_table(
        "known_versions",
        sa.Column("name", sa.String(16), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.bulk_insert(versions, [{"name": "decisions", "version": 0}, {"name": "lists", "version": 0}])


def downgrade() -> None:
    op.drop_table("known_versions")
    op.drop_table("hash_list_entries")
    op.drop_table("hash_lists")
    with op.batch_alter_table("review_items") as batch:
        for column in ("match_distance", "follows", "pdq_quality", "pdq"):
            batch.drop_column(column)
