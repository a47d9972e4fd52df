"""Every error answers JSON: {"error": {"code": ..., "message": ...}}."""

from flask import jsonify
from werkzeug.exceptions import HTTPException


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status, code, message):
    return jsonify(error={"code": code, "message": message}), status


def register(app):
    @app.errorhandler(ApiError)
    def api_error(err):
        return error_response(err.status, err.code, err.message)

    @app.errorhandler(HTTPException)
    def http_error(err):
        code = (err.name or "error").lower().replace(" ", "_")
        return error_response(err.code or 500, code, err.description or err.name)
