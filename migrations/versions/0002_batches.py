"""Batches: many booking requests submitted at once, each its own job.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE batches (
            id uuid PRIMARY KEY,
            owner text NOT NULL,
            total integer NOT NULL CHECK (total BETWEEN 1 AND 1000),
            rejected jsonb NOT NULL DEFAULT '{}'::jsonb,
            submitted_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX batches_owner ON batches (owner, submitted_at);
        ALTER TABLE jobs ADD COLUMN batch_index integer;
        ALTER TABLE jobs ADD CONSTRAINT jobs_batch_fk
            FOREIGN KEY (batch_id) REFERENCES batches (id);
        DROP INDEX jobs_batch;
        CREATE UNIQUE INDEX jobs_batch ON jobs (batch_id, batch_index)
            WHERE batch_id IS NOT NULL;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX jobs_batch;
        CREATE INDEX jobs_batch ON jobs (batch_id, seq) WHERE batch_id IS NOT NULL;
        ALTER TABLE jobs DROP CONSTRAINT jobs_batch_fk;
        ALTER TABLE jobs DROP COLUMN batch_index;
        DROP TABLE batches;
        """
    )
