"""The OpenAPI 3 description of /api, served at /api/openapi.json (a test keeps it in step with the routes)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

bp = Blueprint("openapi", __name__, url_prefix="/api")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _obj(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def _page(item: str) -> dict[str, Any]:
    return _obj(items={"type": "array", "items": _ref(item)}, next_cursor={"type": ["string", "null"]})


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_ERROR = {"$ref": "#/components/responses/Error"}
_STR = {"type": "string"}
_INT = {"type": "integer"}
_CURSOR = {"name": "cursor", "in": "query", "schema": _STR}
_LIMIT = {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 50}}
_USERNAME = {"name": "username", "in": "path", "required": True, "schema": _STR}
_POST_ID = {"name": "post_id", "in": "path", "required": True, "schema": _INT}
_USER = _json(_obj(user=_ref("User")))


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": {**responses, "default": _ERROR}, **extra}


PATHS: dict[str, dict[str, Any]] = {
    "/api/auth/register": {
        "post": _op(
            "Create an account and log in",
            {"201": _USER},
            requestBody=_body(_obj(username=_STR, email=_STR, password=_STR)),
        )
    },
    "/api/auth/login": {"post": _op("Log in", {"200": _USER}, requestBody=_body(_obj(username=_STR, password=_STR)))},
    "/api/auth/logout": {"post": _op("Log out", {"200": _json(_obj(msg=_STR))})},
    "/api/auth/me": {"get": _op("The logged-in user", {"200": _USER})},
    "/api/users": {
        "get": _op(
            "Users whose name starts with q (at most 10)",
            {"200": _json(_obj(items={"type": "array", "items": _ref("User")}))},
            parameters=[{"name": "q", "in": "query", "required": True, "schema": _STR}],
        )
    },
    "/api/users/me": {
        "patch": _op("Edit my profile", {"200": _USER}, requestBody=_body(_obj(display_name=_STR, bio=_STR)))
    },
    "/api/users/{username}": {"get": _op("A profile", {"200": _USER}, parameters=[_USERNAME])},
    "/api/users/{username}/follow": {
        "post": _op("Follow", {"200": _USER}, parameters=[_USERNAME]),
        "delete": _op("Unfollow", {"200": _USER}, parameters=[_USERNAME]),
    },
    "/api/users/{username}/posts": {
        "get": _op("A user's posts", {"200": _json(_page("Post"))}, parameters=[_USERNAME, _CURSOR, _LIMIT])
    },
    "/api/posts": {
        "post": _op(
            "Publish a post (markdown body, optional uploaded image)",
            {"201": _json(_obj(post=_ref("Post")))},
            requestBody=_body(_obj(body=_STR, image_url=_STR)),
        )
    },
    "/api/posts/{post_id}": {
        "get": _op("A post", {"200": _json(_obj(post=_ref("Post")))}, parameters=[_POST_ID]),
        "delete": _op("Delete my post", {"204": {"description": "deleted"}}, parameters=[_POST_ID]),
    },
    "/api/posts/{post_id}/comments": {
        "get": _op(
            "Comments, oldest first",
            {"200": _json(_obj(items={"type": "array", "items": _ref("Comment")}))},
            parameters=[_POST_ID],
        ),
        "post": _op(
            "Comment on a post",
            {"201": _json(_obj(comment=_ref("Comment")))},
            parameters=[_POST_ID],
            requestBody=_body(_obj(body=_STR)),
        ),
    },
    "/api/feed": {
        "get": _op(
            "Home timeline: posts of the people I follow", {"200": _json(_page("Post"))}, parameters=[_CURSOR, _LIMIT]
        )
    },
    "/api/notifications": {
        "get": _op(
            "My notifications, newest first",
            {
                "200": _json(
                    {**_page("Notification"), "properties": {**_page("Notification")["properties"], "unread": _INT}}
                )
            },
            parameters=[_CURSOR, _LIMIT],
        )
    },
    "/api/notifications/read": {
        "post": _op(
            "Mark notifications read (all when ids is absent)",
            {"200": _json(_obj(unread=_INT))},
            requestBody={
                "required": False,
                "content": {"application/json": {"schema": _obj(ids={"type": "array", "items": _INT})}},
            },
        )
    },
    "/api/uploads": {
        "post": _op(
            "Upload an image (JPEG, PNG, GIF or WebP, at most 4 MB)",
            {"201": _json(_obj(url=_STR))},
            requestBody={
                "required": True,
                "content": {"multipart/form-data": {"schema": _obj(file={"type": "string", "format": "binary"})}},
            },
        )
    },
    "/api/health": {
        "get": {
            "summary": "Whether the database, Redis and the Celery broker answer",
            "responses": {
                "200": _json(_ref("Health")),
                "503": _json(_ref("Health"), "something is unreachable"),
            },
        }
    },
    "/api/openapi.json": {"get": {"summary": "This document", "responses": {"200": _json({"type": "object"})}}},
}

_USER_LITE = _obj(id=_INT, username=_STR, display_name=_STR)
SCHEMAS: dict[str, Any] = {
    "UserLite": _USER_LITE,
    "User": _obj(
        **_USER_LITE["properties"], bio=_STR, followers=_INT, following=_INT, is_following={"type": "boolean"}
    ),
    "Post": _obj(
        id=_INT,
        author=_ref("UserLite"),
        body=_STR,
        html=_STR,
        image_url={"type": ["string", "null"]},
        created_at={"type": "string", "format": "date-time"},
        comment_count=_INT,
    ),
    "Comment": _obj(
        id=_INT,
        post_id=_INT,
        author=_ref("UserLite"),
        body=_STR,
        html=_STR,
        created_at={"type": "string", "format": "date-time"},
    ),
    "Notification": _obj(
        id=_INT,
        kind={"type": "string", "enum": ["mention", "follow", "comment"]},
        actor=_ref("UserLite"),
        post_id={"type": ["integer", "null"]},
        read={"type": "boolean"},
        created_at={"type": "string", "format": "date-time"},
    ),
    "Health": _obj(db=_STR, redis=_STR, broker=_STR),
    "Error": _obj(msg=_STR),
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Raindrop API", "version": "1"},
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "responses": {"Error": _json(_ref("Error"), "error: {msg} with the HTTP status")},
        "securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "raindrop_session"}},
    },
}


@bp.get("/openapi.json")
def openapi_document() -> dict[str, Any]:
    return DOCUMENT
