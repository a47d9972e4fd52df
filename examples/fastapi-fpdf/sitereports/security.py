"""Passwords (PBKDF2 from the standard library) and CSRF tokens kept in the
signed session cookie."""

import hashlib
import hmac
import secrets

from fastapi import HTTPException, Request, status

_ITERATIONS = 200_000


def hash_password(password: str) -> str:
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), _ITERATIONS)
    return f"pbkdf2_sha256${_ITERATIONS}${salt}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        _, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(iterations))
    return hmac.compare_digest(candidate.hex(), digest)


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use; rendered into forms."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, submitted: str) -> None:
    """The form's `csrf_token` field, or for a script's request the
    `X-CSRF-Token` header, must be the session's token."""
    submitted = submitted or request.headers.get("x-csrf-token", "")
    expected = request.session.get("csrf")
    if not expected or not hmac.compare_digest(expected, submitted):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the form's CSRF token is missing or stale")


def current_user(request: Request) -> int:
    """The logged-in user's id; 401 otherwise (a dependency of the routes)."""
    user_id = request.session.get("user_id")
    if not user_id:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "log in first")
    return int(user_id)
