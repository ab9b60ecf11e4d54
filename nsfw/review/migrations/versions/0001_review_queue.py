"""The review queue: items, thumbnails, decisions, webhook outbox (issue 13).

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from nsfw.review.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("seen_count", sa.Integer(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("sha256", name="uq_review_items_sha256"),
    )
    op.create_index("ix_review_items_decision_id", "review_items", ["decision", "id"])
    op.create_index("ix_review_items_decision_seen", "review_items", ["decision", "seen_count", "id"])
    op.create_index("ix_review_items_first_seen", "review_items", ["first_seen"])
    op.create_table(
        "review_thumbnails",
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("review_items.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("jpeg", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "review_decisions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("review_items.id", ondelete="CASCADE"), nullable=False),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_review_decisions_item_id", "review_decisions", ["item_id"])
    op.create_table(
        "review_webhook_outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_review_webhook_outbox_next_attempt_at", "review_webhook_outbox", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_table("review_webhook_outbox")
    op.drop_table("review_decisions")
    op.drop_table("review_thumbnails")
    op.drop_table("review_items")
