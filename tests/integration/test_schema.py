"""The tables the code queries are the tables the migrations make."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage.tables import Base


def _columns_only(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    """Indexes and constraints live in the migrations only; tables and columns in both."""
    return type_ in ("table", "column")


def test_the_tables_mirror_the_migrated_schema_column_for_column(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": _columns_only, "compare_type": True}
        )
        differences = compare_metadata(context, Base.metadata)
    # alembic_version is Alembic's own table, not ours
    differences = [
        d for d in differences if not (d[0] == "remove_table" and d[1].name == "alembic_version")
    ]
    assert differences == []
