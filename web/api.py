"""The flask-smorest Api, documenting every error as an RFC 9457 problem."""

from __future__ import annotations

import http

from flask_smorest import Api
from flask_smorest.utils import prepare_response

from web.schemas.common import ProblemSchema

PROBLEM_CONTENT_TYPE = "application/problem+json"


class RailApi(Api):
    """Api whose documented error responses are `application/problem+json` problems."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        # Same as flask-smorest's (pinned 0.47), with the problem content type.
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "An RFC 9457 problem", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)
