"""Client quotas set by operators (unset fields take the defaults), and the seat quota
that each job carries to the worker.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE client_quotas (
            client text PRIMARY KEY,
            passengers_per_booking integer CHECK (passengers_per_booking >= 1),
            bookings_per_batch integer CHECK (bookings_per_batch >= 1),
            seats_per_departure integer CHECK (seats_per_departure >= 0),
            open_jobs integer CHECK (open_jobs >= 0),
            updated_at timestamptz NOT NULL DEFAULT now(),
            updated_by text NOT NULL
        );
        -- The seat quota in force when the job was accepted, checked again by the worker
        -- under the departure's lock (null: none).
        ALTER TABLE jobs ADD COLUMN seat_quota integer;
        -- The open-jobs quota counts a client's jobs not yet ended.
        CREATE INDEX jobs_owner_pending ON jobs (owner) WHERE status IN ('queued', 'running');
        -- The seat quota counts a client's passengers on one departure.
        CREATE INDEX bookings_owner_departure ON bookings (owner, service_id, date)
            WHERE status = 'confirmed';
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP INDEX bookings_owner_departure, jobs_owner_pending; "
        "ALTER TABLE jobs DROP COLUMN seat_quota; DROP TABLE client_quotas"
    )
