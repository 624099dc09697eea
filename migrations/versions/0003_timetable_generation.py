"""A timetable generation number, bumped by every timetable write.

Readers cache services in memory and drop the cache when the number moves.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE timetable_generation (
            only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
            value bigint NOT NULL
        );
        INSERT INTO timetable_generation (value) VALUES (1);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE timetable_generation")
