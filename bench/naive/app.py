"""The naive pipeline's Flask API: store services, accept bookings, show jobs.

A deliberately plain baseline for the load benchmark, never run in production
(see bench/naive/__init__.py). A booking is validated with marshmallow, stored as a
queued Job and handed to Celery (`allocate.delay`); clients poll GET /v1/jobs/{id}.

    gunicorn --worker-class gthread --workers 2 --threads 8 "bench.naive.app:create_app()"
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from typing import Any

import jwt
from flask import Flask, abort, jsonify, request
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import delete
from sqlalchemy.orm import sessionmaker
from werkzeug.exceptions import HTTPException

from bench.naive.models import ROUTES, Job, Seat, Service, make_engine
from bench.naive.worker import allocate

STOPS = sorted({stop for stops in ROUTES.values() for stop in stops})


class CarriageSchema(Schema):
    code = fields.Str(required=True, validate=validate.Regexp(r"^[A-Z]{1,2}$"))
    comfort_zone = fields.Str(required=True, validate=validate.OneOf(["first", "second"]))
    seats = fields.Int(required=True, validate=validate.Range(1, 200))


class ServiceSchema(Schema):
    route = fields.Str(required=True, validate=validate.OneOf(list(ROUTES)))
    departure_time = fields.Str(required=True, validate=validate.Regexp(r"^\d\d:\d\d$"))
    days = fields.Str(required=True, validate=validate.Regexp(r"^[1-7]{1,7}$"))
    valid_from = fields.Date(required=True)
    valid_to = fields.Date(required=True)
    carriages = fields.List(
        fields.Nested(CarriageSchema), required=True, validate=validate.Length(1, 26)
    )


class PassengerSchema(Schema):
    name = fields.Str(required=True, validate=validate.Length(1, 200))


class BookingSchema(Schema):
    service = fields.Str(required=True, validate=validate.Length(1, 64))
    date = fields.Date(required=True)
    origin = fields.Str(required=True, validate=validate.OneOf(STOPS))
    destination = fields.Str(required=True, validate=validate.OneOf(STOPS))
    passengers = fields.List(
        fields.Nested(PassengerSchema), required=True, validate=validate.Length(1, 9)
    )
    comfort_zone = fields.Str(load_default=None, validate=validate.OneOf(["first", "second"]))

    @validates_schema
    def origin_before_destination(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["origin"] == data["destination"]:
            raise ValidationError("origin and destination must differ", "destination")


def error(status: int, code: str, **extra: Any) -> tuple[Any, int]:
    return jsonify({"code": code, **extra}), status


def create_app() -> Flask:
    app = Flask(__name__)
    secret = os.environ["JWT_SECRET"]
    Session = sessionmaker(make_engine())

    def caller(role: str | None = None) -> dict[str, Any]:
        """The token's claims; 401 without a valid one, 403 without the role."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not token:
            abort(401)
        try:
            claims = jwt.decode(
                token, secret, algorithms=["HS256"], options={"require": ["exp", "sub"]}
            )
        except jwt.InvalidTokenError:
            abort(401)
        if role and claims.get("role") != role:
            abort(403)
        return claims

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Any, int]:
        return error(exc.code or 500, (exc.name or "error").lower().replace(" ", "_"))

    @app.errorhandler(ValidationError)
    def invalid(exc: ValidationError) -> tuple[Any, int]:
        return error(422, "invalid_request", errors=exc.messages)

    @app.get("/healthz")
    def healthz() -> tuple[Any, int]:
        return jsonify({"status": "ok"}), 200

    @app.put("/v1/services/<service_id>")
    def put_service(service_id: str) -> tuple[Any, int]:
        caller("operator")
        if len(service_id) > 64:
            abort(404)
        data = ServiceSchema().load(request.get_json(silent=True) or {})
        with Session.begin() as session:
            service = session.get(Service, service_id)
            created = service is None
            if service is None:
                service = Service(id=service_id)
                session.add(service)
            carriages = data.pop("carriages")
            for name, value in data.items():
                setattr(service, name, value)
            session.execute(delete(Seat).where(Seat.service_id == service_id))
            session.add_all(
                Seat(
                    service_id=service_id,
                    carriage=carriage["code"],
                    number=number,
                    code=f"{carriage['code']}{number}",
                    comfort_zone=carriage["comfort_zone"],
                )
                for carriage in carriages
                for number in range(1, carriage["seats"] + 1)
            )
        return jsonify({"id": service_id}), 201 if created else 200

    @app.post("/v1/bookings")
    def post_booking() -> tuple[Any, int]:
        claims = caller()
        data = BookingSchema().load(request.get_json(silent=True) or {})
        with Session.begin() as session:
            service = session.get(Service, data["service"])
            if service is None:
                return error(404, "unknown_service")
            stops = ROUTES[service.route]
            if data["origin"] not in stops or data["destination"] not in stops:
                return error(422, "unknown_stop")
            if stops.index(data["origin"]) > stops.index(data["destination"]):
                return error(422, "wrong_direction")
            if not service.runs_on(data["date"]):
                return error(422, "no_departure")
            job_id = uuid.uuid4()
            session.add(
                Job(
                    id=job_id,
                    client=claims["sub"],
                    service_id=service.id,
                    date=data["date"],
                    request=BookingSchema().dump(data),
                    status="queued",
                    submitted_at=dt.datetime.now(dt.UTC),
                )
            )
        allocate.delay(str(job_id))
        return jsonify({"id": str(job_id), "status": "queued"}), 202

    @app.get("/v1/jobs/<uuid:job_id>")
    def get_job(job_id: uuid.UUID) -> tuple[Any, int]:
        claims = caller()
        with Session() as session:
            job = session.get(Job, job_id)
            if job is None or job.client != claims["sub"]:
                abort(404)
            return jsonify(job.to_dict()), 200

    return app
