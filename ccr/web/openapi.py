"""The OpenAPI 3.1 document served at /api/v1/openapi.json (docs/api.md is the prose)."""

from __future__ import annotations

from functools import cache
from typing import Any

_STR = {"type": "string"}
_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": _STR,
                "message": _STR,
                "field": _STR,
                # 422: every field that failed with its message (`field` is the first of them).
                "fields": {"type": "object", "additionalProperties": _STR},
            },
        }
    },
}
_USER = {
    "type": "object",
    "properties": {
        "id": _STR,
        "email": _STR,
        "role": {"enum": ["customer", "agent", "admin"]},
        "first_name": _STR,
        "last_name": _STR,
        "disabled": {"type": "boolean"},
        "phone": {"type": ["string", "null"]},
        "two_factor": {"type": "boolean"},
    },
}
_PRIORITY = {"enum": ["low", "normal", "high", "urgent"]}
_PARTY = {"type": "object", "properties": {"id": _STR, "name": _STR}}
_TICKET = {
    "type": "object",
    "properties": {
        "id": _STR,
        "subject": _STR,
        "description": _STR,
        "status": {"enum": ["open", "assigned", "closed"]},
        "customer": _PARTY,
        "agent": {"oneOf": [_PARTY, {"type": "null"}]},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "last_seq": {"type": "integer"},
        "priority": _PRIORITY,
        "tags": {"type": "array", "items": _STR},
        "channel": {"enum": ["web", "email"]},
        "first_response_at": {"type": ["string", "null"], "format": "date-time"},
        "sla": {"type": ["object", "null"]},
    },
}
_CANNED = {
    "type": "object",
    "properties": {
        "id": _STR,
        "shortcut": _STR,
        "title": _STR,
        "body": _STR,
        "rendered": _STR,
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
_MESSAGE = {
    "type": "object",
    "properties": {
        "id": _STR,
        "ticket_id": _STR,
        "seq": {"type": "integer"},
        "sender": {"type": "object", "properties": {"id": _STR, "role": _STR, "name": _STR}},
        "body": _STR,
        "client_id": _STR,
        "created_at": {"type": "string", "format": "date-time"},
    },
}

# (method, path, who, summary, request fields, success status)
ROUTES: list[tuple[str, str, str, str, dict[str, Any], int]] = [
    (
        "post",
        "/auth/register",
        "anyone",
        "Register a customer; mails a confirmation link",
        {"email": _STR, "password": _STR, "first_name": _STR, "last_name": _STR},
        202,
    ),
    ("post", "/auth/verify-email", "anyone", "Confirm an email address", {"token": _STR}, 204),
    (
        "post",
        "/auth/login",
        "anyone",
        "Log in; sets the session cookie",
        {"email": _STR, "password": _STR},
        200,
    ),
    ("post", "/auth/logout", "logged in", "End this session", {}, 204),
    ("get", "/me", "logged in", "The current user", {}, 200),
    (
        "post",
        "/auth/forgot-password",
        "anyone",
        "Mail a reset link if the address is known",
        {"email": _STR},
        202,
    ),
    (
        "post",
        "/auth/reset-password",
        "anyone",
        "Set a new password from a reset link",
        {"token": _STR, "password": _STR},
        204,
    ),
    (
        "post",
        "/agents",
        "admin",
        "Create an agent; mails an invitation",
        {"email": _STR, "first_name": _STR, "last_name": _STR},
        201,
    ),
    ("get", "/agents", "admin", "Agents with their open ticket load and presence", {}, 200),
    (
        "post",
        "/users/{id}/disable",
        "admin",
        "Disable a customer or agent; ends their sessions and sockets",
        {},
        200,
    ),
    ("post", "/users/{id}/enable", "admin", "Enable a disabled account again", {}, 200),
    ("post", "/tickets", "customer", "Open a ticket", {"subject": _STR, "description": _STR}, 201),
    (
        "get",
        "/tickets",
        "all",
        "Tickets the caller may see; filters status, priority, tag, unassigned=1 (admins);"
        " sort activity (default), priority, created, waiting",
        {},
        200,
    ),
    ("get", "/tickets/{id}", "all", "One ticket", {}, 200),
    (
        "patch",
        "/tickets/{id}",
        "its agent, admin",
        "Set priority and/or tags",
        {"priority": _PRIORITY, "tags": {"type": "array", "items": _STR}},
        200,
    ),
    ("get", "/search", "logged in", "Search the tickets the caller may see (?q=TEXT&limit=N)", {}, 200),
    ("post", "/tickets/{id}/assign", "admin", "Assign or reassign an agent", {"agent_id": _STR}, 200),
    ("post", "/tickets/{id}/close", "its customer, admin", "Close a ticket", {}, 200),
    ("post", "/tickets/{id}/reopen", "its customer, admin", "Reopen a ticket", {}, 200),
    ("get", "/tickets/{id}/messages", "its customer, its agent, admin", "Messages with seq > after", {}, 200),
    (
        "post",
        "/tickets/{id}/messages",
        "its customer, its agent",
        "Post a message (idempotent on client_id)",
        {"body": _STR, "client_id": _STR},
        201,
    ),
    ("get", "/tickets/{id}/events", "its customer, its agent, admin", "The ticket's timeline", {}, 200),
    (
        "post",
        "/tickets/{id}/rating",
        "its customer",
        "Rate a closed ticket",
        {"score": {"type": "integer", "minimum": 1, "maximum": 5}, "comment": _STR},
        201,
    ),
    ("post", "/feedback", "customer, agent", "Send feedback to the admins", {"body": _STR}, 201),
    ("get", "/feedback", "admin", "Feedback, newest first", {}, 200),
    (
        "get",
        "/canned-replies",
        "agent, admin",
        "Canned replies matching q; with ticket_id, each is also `rendered` for that ticket",
        {},
        200,
    ),
    (
        "post",
        "/canned-replies",
        "admin",
        "Create a canned reply",
        {"shortcut": _STR, "title": _STR, "body": _STR},
        201,
    ),
    ("get", "/canned-replies/{id}", "agent, admin", "One canned reply", {}, 200),
    (
        "patch",
        "/canned-replies/{id}",
        "admin",
        "Edit a canned reply",
        {"shortcut": _STR, "title": _STR, "body": _STR},
        200,
    ),
    ("delete", "/canned-replies/{id}", "admin", "Delete a canned reply", {}, 204),
    ("get", "/stats", "admin", "Numbers behind the admin overview", {}, 200),
]


@cache
def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, who, summary, fields, status in ROUTES:
        operation: dict[str, Any] = {
            "summary": summary,
            "description": f"Who: {who}.",
            "responses": {
                str(status): {"description": "success"},
                "default": {"description": "error", "content": {"application/json": {"schema": _ERROR}}},
            },
        }
        if "{id}" in path:
            operation["parameters"] = [{"name": "id", "in": "path", "required": True, "schema": _STR}]
        if fields:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object", "properties": fields}}},
            }
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Customer Care Registry API", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "components": {
            "schemas": {
                "Error": _ERROR,
                "User": _USER,
                "Ticket": _TICKET,
                "Message": _MESSAGE,
                "CannedReply": _CANNED,
            }
        },
        "paths": paths,
    }
