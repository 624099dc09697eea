"""Batches of booking requests and their jobs."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from domain.job import JobStatus
from web.schemas.common import LinksSchema, ProblemSchema


class BatchInSchema(Schema):
    bookings = fields.List(
        fields.Raw(metadata={"$ref": "#/components/schemas/BookingIn"}),
        required=True,
        validate=validate.Length(1, 1000),
        metadata={"description": "1 to 1,000 booking requests, each as for POST /v1/bookings."},
    )


class BatchJobSchema(Schema):
    id = fields.String(allow_none=True, metadata={"format": "uuid"})
    status = fields.String(metadata={"enum": ["rejected", *(s.value for s in JobStatus)]})
    reference = fields.String(allow_none=True)
    error = fields.Nested(ProblemSchema, allow_none=True)
    links = fields.Nested(LinksSchema)


class BatchSchema(Schema):
    id = fields.String(metadata={"format": "uuid"})
    submitted_at = fields.String(metadata={"format": "date-time"})
    total = fields.Integer()
    rejected = fields.Integer()
    queued = fields.Integer()
    running = fields.Integer()
    succeeded = fields.Integer()
    failed = fields.Integer()
    jobs = fields.List(fields.Nested(BatchJobSchema))
    next_cursor = fields.String(allow_none=True)
    links = fields.Nested(LinksSchema)
