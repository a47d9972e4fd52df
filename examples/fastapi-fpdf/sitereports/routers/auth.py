"""The login form (CSRF-protected) and logout."""

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse

from .. import db
from ..security import check_csrf, check_password, csrf_token
from .templating import templates

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request):
    return templates.TemplateResponse(
        request, "login.html", {"csrf_token": csrf_token(request), "error": None}
    )


@router.post("/login")
def login(
    request: Request,
    email: str = Form(...),
    password: str = Form(...),
    csrf_token_field: str = Form("", alias="csrf_token"),
):
    check_csrf(request, csrf_token_field)
    settings = request.app.state.settings
    with db.connect(settings.database) as conn:
        row = conn.execute(
            "SELECT id, password_hash FROM users WHERE email = ?", (email.lower(),)
        ).fetchone()
    if row is None or not check_password(password, row["password_hash"]):
        return templates.TemplateResponse(
            request,
            "login.html",
            {"csrf_token": csrf_token(request), "error": "Wrong email or password."},
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    # A new session on login: the anonymous session's CSRF token is not
    # carried over (the form pages make a new one).
    request.session.clear()
    request.session["user_id"] = row["id"]
    return RedirectResponse("/inspections/new", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/logout")
def logout(request: Request, csrf_token_field: str = Form("", alias="csrf_token")):
    check_csrf(request, csrf_token_field)
    request.session.clear()
    return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
