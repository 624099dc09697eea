"""Webhooks: the endpoints clients register, and the outbox of deliveries.

A delivery row is written in the same transaction as the change it reports (the outbox);
the webhook workers send it and record each attempt's outcome on it; the sweeper finds
the ones whose message was lost or whose worker died, as it finds lost jobs.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE webhook_endpoints (
            owner text NOT NULL,
            id text NOT NULL,
            url text NOT NULL,
            events text[] NOT NULL,
            secret text NOT NULL,
            enabled boolean NOT NULL DEFAULT true,
            disabled_reason text,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (owner, id)
        );

        CREATE TABLE webhook_deliveries (
            id uuid PRIMARY KEY,
            seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
            owner text NOT NULL,
            endpoint text NOT NULL,
            event text NOT NULL,
            body jsonb NOT NULL,
            status text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'delivered', 'failed')),
            attempts integer NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL DEFAULT now(),
            -- retries go on until this plus the retry window (a redelivery starts it again)
            retry_from timestamptz NOT NULL DEFAULT now(),
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            lease_until timestamptz,
            enqueued_at timestamptz NOT NULL DEFAULT now(),
            last_attempt_at timestamptz,
            last_response_status integer,
            last_error text,
            delivered_at timestamptz,
            FOREIGN KEY (owner, endpoint) REFERENCES webhook_endpoints (owner, id)
                ON DELETE CASCADE
        );
        -- What the sweeper looks for; the delivery log of one endpoint, newest first.
        CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
            WHERE status = 'pending';
        CREATE INDEX webhook_deliveries_log ON webhook_deliveries (owner, endpoint, seq);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE webhook_deliveries; DROP TABLE webhook_endpoints;")
