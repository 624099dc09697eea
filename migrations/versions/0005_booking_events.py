"""The audit trail: one row per thing that happened to a booking request, append-only.

Written in the same transaction as the change it records. No one may change or remove a
row: a trigger refuses UPDATE, DELETE and TRUNCATE (superusers included, unless they drop
it on purpose), and the privileges to do so are revoked from every role but the owner.
Also: who submitted each job (an operator books on a client's behalf).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE jobs ADD COLUMN submitted_by text;
        ALTER TABLE jobs ADD COLUMN submitted_by_role text;

        CREATE TABLE booking_events (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT now(),
            action text NOT NULL CHECK (action IN (
                'requested', 'confirmed', 'held', 'extended', 'expired', 'cancelled',
                'partially_cancelled', 'exchanged', 'failed')),
            actor_sub text NOT NULL,
            actor_role text NOT NULL,
            on_behalf_of text NOT NULL,
            job_id uuid REFERENCES jobs (id),
            booking_id bigint REFERENCES bookings (id),
            details jsonb NOT NULL DEFAULT '{}'::jsonb,
            CHECK (job_id IS NOT NULL OR booking_id IS NOT NULL)
        );
        CREATE INDEX booking_events_booking ON booking_events (booking_id, id)
            WHERE booking_id IS NOT NULL;
        CREATE INDEX booking_events_job ON booking_events (job_id, id) WHERE job_id IS NOT NULL;

        CREATE FUNCTION booking_events_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'booking_events is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$;
        CREATE TRIGGER booking_events_no_update_or_delete
            BEFORE UPDATE OR DELETE ON booking_events
            FOR EACH ROW EXECUTE FUNCTION booking_events_append_only();
        CREATE TRIGGER booking_events_no_truncate
            BEFORE TRUNCATE ON booking_events
            FOR EACH STATEMENT EXECUTE FUNCTION booking_events_append_only();
        REVOKE UPDATE, DELETE, TRUNCATE ON booking_events FROM PUBLIC;
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE booking_events; DROP FUNCTION booking_events_append_only(); "
        "ALTER TABLE jobs DROP COLUMN submitted_by_role, DROP COLUMN submitted_by"
    )
