"""The one JSON reply shape: {"success": true, "data": ...} or {"success": false, "error": {...}}."""

import json

import flask

from common.platform.errors import AppError

JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}


def success(data, status: int = 200, headers: dict | None = None) -> flask.Response:
    return _reply({"success": True, "data": data}, status, headers)


def failure(code: str, message: str, status: int, data=None, headers: dict | None = None) -> flask.Response:
    body = {"success": False, "error": {"code": code, "message": message}}
    if data is not None:
        body["data"] = data
    return _reply(body, status, headers)


def error_reply(error: AppError) -> flask.Response:
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, int(round(error.retry_after))))
    return failure(error.code, error.message, error.status, headers=headers)


def _reply(body: dict, status: int, headers: dict | None) -> flask.Response:
    return flask.Response(json.dumps(body, separators=(",", ":")), status=status, headers={**JSON_HEADERS, **(headers or {})})
