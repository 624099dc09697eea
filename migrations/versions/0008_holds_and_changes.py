"""Holds, partial cancellations and exchanges.

- A booking may be `held` until `expires_at` (then `expired`), extended a bounded number
  of times, confirmed; or `exchanged` for another (`replaced_by` / `replaces`).
- A held booking's tickets carry the same `hold_expires_at`: every read of a departure
  counts a ticket only while it is active and its hold, if any, has not expired, so an
  expired hold stops blocking its seats at that instant. The allocation marks expired
  holds (tickets inactive) in its transaction before it seats anything, which is what
  the exclusion constraint (on active tickets) needs.
- A ticket cancelled alone (part of a booking) carries `cancelled_at`; one cut at a stop
  keeps its seat up to that stop (its legs and destination shortened in place).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE bookings DROP CONSTRAINT bookings_status_check;
        ALTER TABLE bookings
            ADD CONSTRAINT bookings_status_check CHECK (
                status IN ('confirmed', 'held', 'expired', 'cancelled', 'exchanged')),
            ADD COLUMN expires_at timestamptz,
            ADD COLUMN hold_seconds integer,
            ADD COLUMN extensions integer NOT NULL DEFAULT 0,
            ADD COLUMN expiry_warned boolean NOT NULL DEFAULT false,
            ADD COLUMN confirmed_at timestamptz,
            ADD COLUMN replaces text,
            ADD COLUMN replaced_by text,
            ADD CONSTRAINT bookings_hold_expiry CHECK ((status = 'held') = (expires_at IS NOT NULL)
                OR status = 'expired');
        CREATE INDEX bookings_holds ON bookings (expires_at) WHERE status = 'held';
        CREATE INDEX bookings_departure_holds ON bookings (service_id, date, expires_at)
            WHERE status = 'held';

        ALTER TABLE tickets
            ADD COLUMN hold_expires_at timestamptz,
            ADD COLUMN cancelled_at timestamptz;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX bookings_departure_holds;
        DROP INDEX bookings_holds;
        ALTER TABLE tickets DROP COLUMN cancelled_at, DROP COLUMN hold_expires_at;
        UPDATE bookings SET status = 'cancelled' WHERE status IN ('held', 'expired', 'exchanged');
        ALTER TABLE bookings
            DROP CONSTRAINT bookings_hold_expiry,
            DROP CONSTRAINT bookings_status_check,
            DROP COLUMN replaced_by, DROP COLUMN replaces, DROP COLUMN confirmed_at,
            DROP COLUMN expiry_warned, DROP COLUMN extensions, DROP COLUMN hold_seconds,
            DROP COLUMN expires_at;
        ALTER TABLE bookings ADD CONSTRAINT bookings_status_check
            CHECK (status IN ('confirmed', 'cancelled'));
        """
    )
