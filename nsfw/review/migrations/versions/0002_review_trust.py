"""Issue 21: item versions (webhook order), the outbox's item, reviewers' server-side sessions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from nsfw.review.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("review_items") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("review_webhook_outbox") as batch:
        batch.add_column(sa.Column("item_id", sa.Integer(), nullable=True))
        batch.create_index("ix_review_webhook_outbox_item_id", ["item_id"])
    op.create_table(
        "review_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_review_sessions_reviewer", "review_sessions", ["reviewer"])
    op.create_index("ix_review_sessions_expires_at", "review_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_table("review_sessions")
    with op.batch_alter_table("review_webhook_outbox") as batch:
        batch.drop_index("ix_review_webhook_outbox_item_id")
        batch.drop_column("item_id")
    with op.batch_alter_table("review_items") as batch:
        batch.drop_column("version")
