"""Command-line tools: `flask --app web token|timetable load|demo seed`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup
from marshmallow import ValidationError

from domain.errors import RailError
from storage import timetable_repo
from web import db
from web.auth import CLIENT_ID_PATTERN, ROLES, issue_token
from web.problems import flatten
from web.schemas.timetable import TimetableSchema

DEMO_TIMETABLE = Path(__file__).resolve().parent.parent / "timetables" / "demo.json"


def load_timetable_file(path: Path) -> dict[str, int]:
    """Validate and load a timetable document in one transaction."""
    try:
        document = TimetableSchema().load(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, ValidationError) as exc:
        messages = getattr(exc, "messages", None)
        detail = "\n".join(f"  {k}: {'; '.join(v)}" for k, v in flatten(messages).items())
        raise click.ClickException(f"{path} is not a valid timetable:\n{detail or exc}") from None
    try:
        with db.engine().begin() as conn:
            return timetable_repo.load_document(conn, document)
    except RailError as exc:
        raise click.ClickException(f"{path}: {exc.detail} {exc.errors or ''}") from None


def register(app: Flask) -> None:
    @app.cli.command("token")
    @click.option("--sub", required=True, help="The caller's id (a client id for clients).")
    @click.option("--role", required=True, type=click.Choice(ROLES))
    @click.option(
        "--hours",
        type=click.IntRange(min=1),
        help="How long the token lasts.  [default: 24, or JWT_MAX_LIFETIME_SECONDS if shorter]",
    )
    def token(sub: str, role: str, hours: int | None) -> None:
        """Print a bearer token (HS256, signed with JWT_SECRET) for local use."""
        settings = db.settings()
        if settings.jwt_public_key:
            raise click.ClickException(
                "JWT_PUBLIC_KEY is set: the API accepts only tokens signed by the identity "
                "provider, and this command cannot sign one. Ask the identity provider."
            )
        if not CLIENT_ID_PATTERN.fullmatch(sub):
            raise click.BadParameter("1-64 letters, digits and ._@-", param_hint="--sub")
        cap = settings.jwt_max_lifetime_seconds
        if hours is None:
            ttl = min(dt.timedelta(hours=24), dt.timedelta(seconds=cap))
        elif hours * 3600 > cap:
            raise click.BadParameter(
                f"{hours} hours is longer than JWT_MAX_LIFETIME_SECONDS ({cap} s)",
                param_hint="--hours",
            )
        else:
            ttl = dt.timedelta(hours=hours)
        click.echo(issue_token(settings.jwt_secret, sub, role, ttl))

    timetable = AppGroup("timetable", help="Timetable documents.")

    @timetable.command("load")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    def load(file: Path) -> None:
        """Load a timetable document (stations, routes, services) in one transaction."""
        counts = load_timetable_file(file)
        click.echo(json.dumps(counts))

    demo = AppGroup("demo", help="The demonstration timetable.")

    @demo.command("seed")
    @click.option("--if-empty", is_flag=True, help="Do nothing if any station exists.")
    def seed(if_empty: bool) -> None:
        """Load the demonstration timetable (service 5160 and friends)."""
        if if_empty:
            with db.engine().connect() as conn:
                if timetable_repo.has_any_station(conn):
                    click.echo("timetable present; not seeding")
                    return
        click.echo(json.dumps(load_timetable_file(DEMO_TIMETABLE)))

    app.cli.add_command(timetable)
    app.cli.add_command(demo)
