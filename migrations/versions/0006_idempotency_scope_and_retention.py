"""Idempotency keys belong to who sent them (the caller and the client acted for), and
what the retention task forgets can be found without reading every job.

Rows written before 0005 have no submitted_by: their sender is their owner.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        DROP INDEX jobs_idempotency;
        CREATE UNIQUE INDEX jobs_idempotency
            ON jobs (owner, (coalesce(submitted_by, owner)), idempotency_key)
            WHERE idempotency_key IS NOT NULL;
        -- Keys past their retention, oldest first.
        CREATE INDEX jobs_idempotency_age ON jobs (submitted_at)
            WHERE idempotency_key IS NOT NULL;
        -- Ended jobs still holding the passengers' names, by departure date.
        CREATE INDEX jobs_personal_data ON jobs (date)
            WHERE status IN ('succeeded', 'failed') AND request ? 'passengers';
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX jobs_personal_data, jobs_idempotency_age, jobs_idempotency;
        CREATE UNIQUE INDEX jobs_idempotency ON jobs (owner, idempotency_key)
            WHERE idempotency_key IS NOT NULL;
        """
    )
