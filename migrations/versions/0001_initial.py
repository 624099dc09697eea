"""Timetable, jobs, bookings and tickets, with the exclusion constraint.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute(
        """
        CREATE TABLE stations (
            code text PRIMARY KEY,
            name text NOT NULL,
            timezone text NOT NULL
        );
        CREATE TABLE routes (
            id text PRIMARY KEY,
            name text NOT NULL
        );
        CREATE TABLE route_stops (
            route_id text NOT NULL REFERENCES routes (id) ON DELETE CASCADE,
            idx integer NOT NULL CHECK (idx >= 0),
            station text NOT NULL REFERENCES stations (code),
            distance_km numeric(9, 3) NOT NULL CHECK (distance_km >= 0),
            arrive_min integer,
            depart_min integer,
            PRIMARY KEY (route_id, idx)
        );
        CREATE INDEX route_stops_station ON route_stops (station, route_id, idx);
        CREATE TABLE services (
            id text PRIMARY KEY,
            route_id text NOT NULL REFERENCES routes (id),
            departure_time time NOT NULL,
            days text NOT NULL,
            valid_from date NOT NULL,
            valid_to date NOT NULL,
            CHECK (valid_from <= valid_to)
        );
        CREATE INDEX services_route ON services (route_id);
        CREATE TABLE carriages (
            service_id text NOT NULL REFERENCES services (id) ON DELETE CASCADE,
            code text NOT NULL,
            position integer NOT NULL,
            comfort_zone text NOT NULL,
            PRIMARY KEY (service_id, code),
            UNIQUE (service_id, position)
        );
        CREATE TABLE seats (
            service_id text NOT NULL,
            number text NOT NULL,
            carriage text NOT NULL,
            position integer NOT NULL,
            slot integer NOT NULL,
            comfort_zone text NOT NULL,
            PRIMARY KEY (service_id, number),
            UNIQUE (service_id, position),
            FOREIGN KEY (service_id, carriage)
                REFERENCES carriages (service_id, code) ON DELETE CASCADE
        );

        CREATE TABLE bookings (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            reference text NOT NULL UNIQUE,
            owner text NOT NULL,
            service_id text NOT NULL,
            date date NOT NULL,
            status text NOT NULL DEFAULT 'confirmed'
                CHECK (status IN ('confirmed', 'cancelled')),
            created_at timestamptz NOT NULL DEFAULT now(),
            cancelled_at timestamptz
        );
        CREATE INDEX bookings_owner ON bookings (owner, id);
        CREATE INDEX bookings_departure ON bookings (service_id, date, id);
        CREATE TABLE passengers (
            booking_id bigint NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
            position integer NOT NULL,
            name text NOT NULL,
            PRIMARY KEY (booking_id, position)
        );
        CREATE TABLE tickets (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            booking_id bigint NOT NULL,
            passenger integer NOT NULL,
            position integer NOT NULL,
            service_id text NOT NULL,
            date date NOT NULL,
            seat text NOT NULL,
            legs int4range NOT NULL CHECK (NOT isempty(legs)),
            origin text NOT NULL,
            destination text NOT NULL,
            active boolean NOT NULL DEFAULT true,
            FOREIGN KEY (booking_id, passenger)
                REFERENCES passengers (booking_id, position) ON DELETE CASCADE,
            CONSTRAINT tickets_no_double_sale EXCLUDE USING gist (
                service_id WITH =, date WITH =, seat WITH =, legs WITH &&
            ) WHERE (active)
        );
        CREATE INDEX tickets_booking ON tickets (booking_id, passenger, position);
        CREATE INDEX tickets_boarding ON tickets (service_id, date, lower(legs)) WHERE active;
        CREATE INDEX tickets_alighting ON tickets (service_id, date, upper(legs)) WHERE active;
        CREATE INDEX tickets_seat ON tickets (service_id, date, seat) WHERE active;

        CREATE TABLE jobs (
            id uuid PRIMARY KEY,
            seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
            owner text NOT NULL,
            idempotency_key text,
            request_hash text,
            request jsonb NOT NULL,
            service_id text NOT NULL,
            date date NOT NULL,
            batch_id uuid,
            status text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
            attempt integer NOT NULL DEFAULT 0,
            lease_until timestamptz,
            submitted_at timestamptz NOT NULL DEFAULT now(),
            enqueued_at timestamptz NOT NULL DEFAULT now(),
            started_at timestamptz,
            finished_at timestamptz,
            booking_id bigint REFERENCES bookings (id),
            error jsonb,
            CHECK ((status = 'succeeded') = (booking_id IS NOT NULL))
        );
        CREATE UNIQUE INDEX jobs_idempotency ON jobs (owner, idempotency_key)
            WHERE idempotency_key IS NOT NULL;
        CREATE INDEX jobs_pending_departure ON jobs (service_id, date, seq)
            WHERE status IN ('queued', 'running');
        CREATE INDEX jobs_pending ON jobs (enqueued_at)
            WHERE status IN ('queued', 'running');
        CREATE INDEX jobs_owner ON jobs (owner, seq);
        CREATE INDEX jobs_batch ON jobs (batch_id, seq) WHERE batch_id IS NOT NULL;
        """
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE jobs, tickets, passengers, bookings, seats, carriages, services, "
        "route_stops, routes, stations"
    )
