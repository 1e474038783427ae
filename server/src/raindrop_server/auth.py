"""Accounts: register, login, logout, the current user. The session is Flask's signed cookie."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Blueprint, abort, g, session

from raindrop_server.api import json_body, text_field
from raindrop_server.extensions import db
from raindrop_server.models import User
from raindrop_server.ratelimit import check_auth_rate
from raindrop_server.text import USERNAME_PATTERN
from raindrop_server.views import user_exists, user_json

P = ParamSpec("P")
R = TypeVar("R")

bp = Blueprint("auth", __name__, url_prefix="/api/auth")
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
_USERNAME = re.compile(rf"^{USERNAME_PATTERN}$")
# Deliberately loose: the address is only checked for shape, not deliverability.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Verifying against a real hash when the user does not exist keeps the timing the same.
_DUMMY_HASH = _hasher.hash("raindrop-timing-equaliser")


def current_user_id() -> int | None:
    if "user_id" not in g:
        user_id = session.get("user_id")
        g.user_id = user_id if user_id and user_exists(user_id) else None
    return g.user_id


def login_required(view: Callable[P, R]) -> Callable[P, R]:
    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        if current_user_id() is None:
            abort(401, "login required")
        return view(*args, **kwargs)

    return wrapped


def _log_in(user: User) -> None:
    session.clear()
    session["user_id"] = user.id
    session.permanent = True
    g.user_id = user.id


@bp.post("/register")
def register() -> tuple[dict[str, Any], int]:
    check_auth_rate("register")
    body = json_body()
    username = text_field(body, "username", max_length=30).strip()
    email = text_field(body, "email", max_length=254).strip()
    password = text_field(body, "password", max_length=1024)
    if not _USERNAME.match(username):
        abort(400, "username must be 3-30 letters, digits or underscores")
    if not _EMAIL.match(email):
        abort(400, "email is not a valid address")
    if len(password) < 8:
        abort(400, "password must be at least 8 characters")
    taken = db.session.scalar(sa.select(User.username).where(sa.or_(User.username == username, User.email == email)))
    if taken is not None:
        abort(409, "username already taken" if taken.lower() == username.lower() else "email already registered")
    user = User(username=username, email=email, password_hash=_hasher.hash(password), display_name=username)
    db.session.add(user)
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        # Two registrations raced past the check above; the unique index decided.
        db.session.rollback()
        abort(409, "username or email already taken")
    _log_in(user)
    return {"user": user_json(user.id, user.id)}, 201


@bp.post("/login")
def login() -> dict[str, Any]:
    check_auth_rate("login")
    body = json_body()
    username = text_field(body, "username", max_length=254).strip()
    password = text_field(body, "password", max_length=1024)
    user = db.session.scalar(sa.select(User).where(sa.or_(User.username == username, User.email == username)))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None:
        abort(401, "wrong username or password")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        db.session.commit()
    _log_in(user)
    return {"user": user_json(user.id, user.id)}


@bp.post("/logout")
def logout() -> dict[str, Any]:
    session.clear()
    return {"msg": "logged out"}


@bp.get("/me")
@login_required
def me() -> dict[str, Any]:
    user_id = current_user_id()
    return {"user": user_json(user_id, user_id)}
