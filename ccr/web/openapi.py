"""The OpenAPI 3.1 document served at /api/v1/openapi.json (docs/api.md is the prose)."""

from __future__ import annotations

from functools import cache
from typing import Any

_STR = {"type": "string"}
_ID = {"type": "string", "pattern": "^[0-9]+$", "maxLength": 19}
_TIME = {"type": "string", "format": "date-time"}
_EMAIL = {"type": "string", "format": "email", "minLength": 3, "maxLength": 254}
_PASSWORD = {"type": "string", "minLength": 8, "maxLength": 128}
_NAME = {"type": "string", "minLength": 1, "maxLength": 100}
_TOKEN = {"type": "string", "minLength": 1, "maxLength": 200}
_ERROR = {
    "type": "object",
    "required": ["error"],
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
    "required": ["id", "email", "role", "first_name", "last_name"],
    "properties": {
        "id": _ID,
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
_TAG = {"type": "string", "minLength": 1, "maxLength": 40}
_PARTY = {"type": "object", "required": ["id", "name"], "properties": {"id": _ID, "name": _STR}}
_TICKET = {
    "type": "object",
    "required": [
        "id",
        "subject",
        "description",
        "status",
        "customer",
        "agent",
        "created_at",
        "updated_at",
        "last_seq",
    ],
    "properties": {
        "id": _ID,
        "subject": _STR,
        "description": _STR,
        "status": {"enum": ["open", "assigned", "closed"]},
        "customer": _PARTY,
        "agent": {"oneOf": [_PARTY, {"type": "null"}]},
        "created_at": _TIME,
        "updated_at": _TIME,
        "last_seq": {"type": "integer", "minimum": 0},
        "priority": _PRIORITY,
        "tags": {"type": "array", "items": _STR},
        "channel": {"enum": ["web", "email"]},
        "first_response_at": {"type": ["string", "null"], "format": "date-time"},
        "sla": {
            "type": ["object", "null"],
            "properties": {
                "first_response_due": {"type": ["string", "null"], "format": "date-time"},
                "resolution_due": {"type": ["string", "null"], "format": "date-time"},
                "breached": {"type": "array", "items": {"enum": ["first_response", "resolution"]}},
            },
        },
    },
}
_CANNED = {
    "type": "object",
    "properties": {
        "id": _ID,
        "shortcut": _STR,
        "title": _STR,
        "body": _STR,
        "rendered": _STR,
        "created_at": _TIME,
        "updated_at": _TIME,
    },
}
_ATTACHMENT = {
    "type": "object",
    "properties": {
        "id": _ID,
        "name": _STR,
        "content_type": _STR,
        "size": {"type": "integer"},
        "url": _STR,
        "thumbnail_url": {"oneOf": [_STR, {"type": "null"}]},
    },
}
_CANNED_FIELDS = {
    "shortcut": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,32}$", "maxLength": 32},
    "title": {"type": "string", "minLength": 1, "maxLength": 100},
    "body": {"type": "string", "minLength": 1, "maxLength": 4000},
}
_MESSAGE = {
    "type": "object",
    "required": ["id", "ticket_id", "seq", "sender", "body", "client_id", "created_at"],
    "properties": {
        "id": _ID,
        "ticket_id": _ID,
        "seq": {"type": "integer", "minimum": 1},
        "sender": {"type": "object", "properties": {"id": _ID, "role": _STR, "name": _STR}},
        "body": _STR,
        "client_id": _STR,
        "created_at": _TIME,
        "attachments": {"type": "array", "items": _ATTACHMENT},
        "internal": {"type": "boolean"},
    },
}
_RATING = {
    "type": "object",
    "properties": {
        "score": {"type": "integer", "minimum": 1, "maximum": 5},
        "comment": _STR,
        "created_at": _TIME,
    },
}
_FEEDBACK = {
    "type": "object",
    "properties": {
        "id": _ID,
        "body": _STR,
        "author": {"type": "object", "properties": {"id": _ID, "role": _STR, "name": _STR}},
        "created_at": _TIME,
    },
}
_EMPTY = {"type": "object", "maxProperties": 0}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _one(key: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": [key], "properties": {key: schema}}


def _many(key: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": [key], "properties": {key: {"type": "array", "items": schema}}}


# The helpdesk settings (contract v2, "Routing"): the request fields and the answer.
_SETTINGS_FIELDS: dict[str, Any] = {
    "routing": {"enum": ["manual", "round_robin", "queue"]},
    "agent_capacity": {"type": "integer", "minimum": 1, "maximum": 1000},
    "business_hours": {
        "type": ["object", "null"],
        "properties": {
            "timezone": {"type": "string", "maxLength": 64, "description": "an IANA zone"},
            "week": {
                "type": "object",
                "description": 'mon..sun: [["HH:MM", "HH:MM"], ...]; overnight as two ranges',
            },
        },
    },
    "sla": {
        "type": ["object", "null"],
        "description": "urgent|high|normal|low: {first_response_minutes, resolution_minutes}",
    },
    "auto_reply": {"type": "boolean"},
}
_SETTINGS = {"type": "object", "properties": _SETTINGS_FIELDS}
_ARTICLE_FIELDS: dict[str, Any] = {
    "title": {"type": "string", "minLength": 1, "maxLength": 200},
    "body": {"type": "string", "minLength": 1, "maxLength": 50_000, "description": "Markdown"},
    "published": {"type": "boolean", "description": "false: a draft only admins see"},
}

# (method, path, who, summary, request fields, success status)
ROUTES: list[tuple[str, str, str, str, dict[str, Any], int]] = [
    (
        "post",
        "/auth/register",
        "anyone",
        "Register a customer; mails a confirmation link",
        {"email": _EMAIL, "password": _PASSWORD, "first_name": _NAME, "last_name": _NAME},
        202,
    ),
    ("post", "/auth/verify-email", "anyone", "Confirm an email address", {"token": _TOKEN}, 204),
    (
        "post",
        "/auth/login",
        "anyone",
        "Log in; sets the session cookie",
        {
            "email": _EMAIL,
            "password": {"type": "string", "minLength": 1, "maxLength": 128},
            # With two-factor on: a current TOTP code or an unused recovery code.
            "otp": {"type": "string", "minLength": 1, "maxLength": 40},
        },
        200,
    ),
    ("post", "/auth/logout", "logged in", "End this session", {}, 204),
    ("get", "/me", "logged in", "The current user", {}, 200),
    (
        "post",
        "/auth/forgot-password",
        "anyone",
        "Mail a reset link if the address is known",
        {"email": _EMAIL},
        202,
    ),
    (
        "post",
        "/auth/reset-password",
        "anyone",
        "Set a new password from a reset link",
        {"token": _TOKEN, "password": _PASSWORD},
        204,
    ),
    (
        "post",
        "/agents",
        "admin",
        "Create an agent; mails an invitation",
        {"email": _EMAIL, "first_name": _NAME, "last_name": _NAME},
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
    (
        "post",
        "/tickets",
        "customer",
        "Open a ticket",
        {
            "subject": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": {"type": "string", "minLength": 1, "maxLength": 20000},
        },
        201,
    ),
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
        {"priority": _PRIORITY, "tags": {"type": "array", "maxItems": 20, "items": _TAG}},
        200,
    ),
    ("get", "/search", "logged in", "Search the tickets the caller may see (?q=TEXT&limit=N)", {}, 200),
    ("post", "/tickets/{id}/assign", "admin", "Assign or reassign an agent", {"agent_id": _ID}, 200),
    ("post", "/tickets/{id}/close", "its customer, admin", "Close a ticket", {}, 200),
    ("post", "/tickets/{id}/reopen", "its customer, admin", "Reopen a ticket", {}, 200),
    ("get", "/tickets/{id}/messages", "its customer, its agent, admin", "Messages with seq > after", {}, 200),
    (
        "post",
        "/tickets/{id}/messages",
        "its customer, its agent; internal notes: its agent, admin",
        "Post a message or, with internal, a staff-only note (idempotent on client_id)",
        {
            "body": {"type": "string", "minLength": 1, "maxLength": 4000},
            "client_id": {"type": "string", "minLength": 1, "maxLength": 64},
            "internal": {"type": "boolean"},
        },
        201,
    ),
    (
        "get",
        "/tickets/{id}/events",
        "its customer, its agent, admin",
        "The ticket's timeline, oldest first, paged (?after=ID&limit=N)",
        {},
        200,
    ),
    (
        "post",
        "/tickets/{id}/rating",
        "its customer",
        "Rate a closed ticket",
        {
            "score": {"type": "integer", "minimum": 1, "maximum": 5},
            "comment": {"type": "string", "maxLength": 2000},
        },
        201,
    ),
    (
        "post",
        "/feedback",
        "customer, agent",
        "Send feedback to the admins",
        {"body": {"type": "string", "minLength": 1, "maxLength": 4000}},
        201,
    ),
    ("get", "/feedback", "admin", "Feedback, newest first", {}, 200),
    (
        "get",
        "/canned-replies",
        "agent, admin",
        "Canned replies matching q; with ticket_id, each is also `rendered` for that ticket",
        {},
        200,
    ),
    ("post", "/canned-replies", "admin", "Create a canned reply", _CANNED_FIELDS, 201),
    ("get", "/canned-replies/{id}", "agent, admin", "One canned reply", {}, 200),
    ("patch", "/canned-replies/{id}", "admin", "Edit a canned reply", _CANNED_FIELDS, 200),
    ("delete", "/canned-replies/{id}", "admin", "Delete a canned reply", {}, 204),
    (
        "get",
        "/articles",
        "anyone (admins see drafts)",
        "Help-centre articles matching q, or the latest",
        {},
        200,
    ),
    ("post", "/articles", "admin", "Write a help-centre article (Markdown)", _ARTICLE_FIELDS, 201),
    ("get", "/articles/{id}", "anyone (drafts: admins)", "One article", {}, 200),
    ("patch", "/articles/{id}", "admin", "Edit an article", _ARTICLE_FIELDS, 200),
    ("delete", "/articles/{id}", "admin", "Delete an article", {}, 204),
    (
        "post",
        "/articles/preview",
        "admin",
        "The sanitised HTML a Markdown body would be shown as (nothing stored)",
        {"body": _ARTICLE_FIELDS["body"]},
        200,
    ),
    ("get", "/stats", "admin", "Numbers behind the admin overview", {}, 200),
    (
        "post",
        "/tickets/{id}/attachments",
        "who may post on the ticket (admins: for notes)",
        "Upload a file (multipart/form-data, field `file`) to send with a message",
        {},
        201,
    ),
    ("get", "/attachments/{id}", "who may see its message", "The file's bytes", {}, 200),
    ("get", "/attachments/{id}/thumbnail", "who may see its message", "An image's thumbnail", {}, 200),
    (
        "post",
        "/tickets/{id}/read",
        "its customer, its agent, admin",
        "Move the caller's read marker (the page's script and the socket call this; GETs never do)",
        {"seq": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}},
        200,
    ),
    ("get", "/openapi.json", "anyone", "This document", {}, 200),
    # Routing, service levels (contract v2).
    (
        "get",
        "/settings",
        "admin",
        "The helpdesk settings (routing, capacity, hours, SLA, auto reply)",
        {},
        200,
    ),
    (
        "patch",
        "/settings",
        "admin",
        "Change some settings (every mistake reported at once)",
        _SETTINGS_FIELDS,
        200,
    ),
    (
        "post",
        "/tickets/{id}/take",
        "agent, when routing is queue",
        "Take a waiting ticket from the queue",
        {},
        200,
    ),
]

# Request fields that must be present (the rest are optional).
REQUIRED: dict[tuple[str, str], list[str]] = {
    ("post", "/auth/register"): ["email", "password", "first_name", "last_name"],
    ("post", "/auth/verify-email"): ["token"],
    ("post", "/auth/login"): ["email", "password"],
    ("post", "/auth/forgot-password"): ["email"],
    ("post", "/auth/reset-password"): ["token", "password"],
    ("post", "/agents"): ["email", "first_name", "last_name"],
    ("post", "/tickets"): ["subject", "description"],
    ("post", "/tickets/{id}/assign"): ["agent_id"],
    ("post", "/tickets/{id}/messages"): ["body", "client_id"],
    ("post", "/tickets/{id}/rating"): ["score"],
    ("post", "/feedback"): ["body"],
    ("post", "/tickets/{id}/read"): ["seq"],
    ("post", "/canned-replies"): ["shortcut", "title", "body"],
    ("post", "/articles"): ["title", "body"],
}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


QUERY: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("get", "/tickets"): [
        _query("status", {"enum": ["open", "assigned", "closed"]}, "only tickets in this status"),
        _query("priority", _PRIORITY, "only tickets of this priority"),
        _query("tag", _TAG, "only tickets with this tag"),
        _query("unassigned", {"enum": ["0", "1"]}, "only tickets with no agent"),
        _query("q", {"type": "string", "maxLength": 200}, "a search, as GET /search"),
        _query("sort", {"enum": ["activity", "priority", "created", "waiting"]}, "order (activity first)"),
        _query("agent_id", _ID, "admins: only tickets assigned to this agent"),
        _query("queue", {"enum": ["0", "1"]}, "the queue (routing `queue`): open, unassigned, oldest first"),
        _query("cursor", {"type": "string", "maxLength": 200}, "next_cursor of the previous page"),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "page size"),
    ],
    ("get", "/search"): [
        _query("q", {"type": "string", "minLength": 1, "maxLength": 200}, "the words to find"),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": 50}, "at most this many results"),
    ],
    ("get", "/articles"): [
        _query("q", {"type": "string", "maxLength": 200}, "words to find (typos forgiven)"),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": 50}, "at most this many"),
    ],
    ("get", "/canned-replies"): [
        _query("q", {"type": "string", "maxLength": 100}, "shortcut or title contains"),
        _query("ticket_id", _ID, "fill the placeholders for this ticket"),
    ],
    ("get", "/tickets/{id}/events"): [
        _query("after", _ID, "events after this event id (the last id of the previous page)"),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "at most this many (100)"),
    ],
    ("get", "/tickets/{id}/messages"): [
        _query("after", {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}, "messages with seq > after"),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "at most this many"),
    ],
}

_LISTED_TICKET = {
    "allOf": [_ref("Ticket"), {"type": "object", "properties": {"unread": {"type": "integer"}}}]
}
_EVENT = {
    "type": "object",
    "properties": {
        "id": _ID,
        "kind": _STR,
        "actor": {"type": ["string", "null"]},
        "data": {},
        "created_at": _TIME,
    },
}
_AGENT = {
    "allOf": [
        _ref("User"),
        {
            "type": "object",
            "properties": {"open_tickets": {"type": "integer"}, "online": {"type": "boolean"}},
        },
    ]
}

_ARTICLE = {
    "type": "object",
    "properties": {
        "id": _ID,
        "title": _STR,
        "body": {"type": "string", "description": "Markdown"},
        "html": {"type": "string", "description": "the body rendered and sanitised"},
        "published": {"type": "boolean"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}

# The success body of each operation (204s have none).
# Operations that answer with a file's bytes rather than JSON.
BINARY = {("get", "/attachments/{id}"), ("get", "/attachments/{id}/thumbnail")}
# Operations whose body is a multipart upload rather than JSON.
UPLOADS = {("post", "/tickets/{id}/attachments")}

RESPONSES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/tickets/{id}/attachments"): _one("attachment", _ref("Attachment")),
    ("post", "/auth/register"): _EMPTY,
    ("post", "/auth/login"): _one("user", _ref("User")),
    ("get", "/me"): _one("user", _ref("User")),
    ("post", "/auth/forgot-password"): _EMPTY,
    ("post", "/agents"): _one("agent", _ref("User")),
    ("get", "/agents"): _many("agents", _AGENT),
    ("post", "/users/{id}/disable"): {
        "type": "object",
        "required": ["user", "moved_tickets"],
        "properties": {"user": _ref("User"), "moved_tickets": {"type": "integer", "minimum": 0}},
    },
    ("post", "/users/{id}/enable"): _one("user", _ref("User")),
    ("post", "/tickets"): _one("ticket", _ref("Ticket")),
    ("get", "/tickets"): {
        "type": "object",
        "required": ["tickets", "next_cursor"],
        "properties": {
            "tickets": {"type": "array", "items": _LISTED_TICKET},
            "next_cursor": {"type": ["string", "null"]},
        },
    },
    ("get", "/tickets/{id}"): _one("ticket", _ref("Ticket")),
    ("post", "/tickets/{id}/assign"): _one("ticket", _ref("Ticket")),
    ("post", "/tickets/{id}/close"): _one("ticket", _ref("Ticket")),
    ("post", "/tickets/{id}/reopen"): _one("ticket", _ref("Ticket")),
    ("get", "/tickets/{id}/messages"): _many("messages", _ref("Message")),
    ("post", "/tickets/{id}/messages"): _one("message", _ref("Message")),
    ("get", "/tickets/{id}/events"): _many("events", _EVENT),
    ("post", "/tickets/{id}/rating"): _one("rating", _RATING),
    ("post", "/feedback"): _one("feedback", _FEEDBACK),
    ("get", "/feedback"): _many("feedback", _FEEDBACK),
    ("get", "/stats"): {"type": "object"},
    ("post", "/tickets/{id}/read"): _one("seq", {"type": "integer", "minimum": 0}),
    ("get", "/openapi.json"): {"type": "object"},
    ("patch", "/tickets/{id}"): _one("ticket", _ref("Ticket")),
    ("get", "/search"): _many(
        "results",
        {
            "type": "object",
            "properties": {
                "ticket": _ref("Ticket"),
                "snippet": _STR,
                "matched": {"enum": ["subject", "description", "message", "note"]},
            },
        },
    ),
    ("get", "/canned-replies"): _many("canned_replies", _ref("CannedReply")),
    ("post", "/canned-replies"): _one("canned_reply", _ref("CannedReply")),
    ("get", "/canned-replies/{id}"): _one("canned_reply", _ref("CannedReply")),
    ("patch", "/canned-replies/{id}"): _one("canned_reply", _ref("CannedReply")),
    ("get", "/settings"): _one("settings", _SETTINGS),
    ("patch", "/settings"): _one("settings", _SETTINGS),
    ("post", "/tickets/{id}/take"): _one("ticket", _ref("Ticket")),
    ("get", "/articles"): _many("articles", _ARTICLE),
    ("post", "/articles"): _one("article", _ARTICLE),
    ("get", "/articles/{id}"): _one("article", _ARTICLE),
    ("patch", "/articles/{id}"): _one("article", _ARTICLE),
    ("post", "/articles/preview"): _one("html", _STR),
}


# --- accounts (self-service, contract v2) ------------------------------------------------------
_PHONE = {"type": ["string", "null"], "maxLength": 40, "description": "international, e.g. +44 20 7946 0958"}
ROUTES += [
    (
        "patch",
        "/me",
        "logged in",
        "Change any of first name, last name and phone",
        {"first_name": _NAME, "last_name": _NAME, "phone": _PHONE},
        200,
    ),
    (
        "post",
        "/me/password",
        "logged in",
        "Change the password; every other session ends; a notice is mailed",
        {"current_password": _PASSWORD, "new_password": _PASSWORD},
        204,
    ),
    (
        "post",
        "/me/email",
        "logged in",
        "Ask to change the address; the new one gets a confirmation link (48 h), the old one a notice",
        {"password": _PASSWORD, "new_email": _EMAIL},
        202,
    ),
    (
        "post",
        "/auth/confirm-email",
        "anyone",
        "Switch to the new address; every session ends",
        {"token": _TOKEN},
        204,
    ),
    ("get", "/me/export", "logged in", "Every personal datum held about the caller", {}, 200),
    (
        "delete",
        "/me",
        "customer",
        "Delete the account (tickets stay, shown as a deleted customer)",
        {"password": _PASSWORD},
        204,
    ),
    ("post", "/me/two-factor", "logged in", "Start two-factor setup: a new TOTP secret", {}, 200),
    (
        "post",
        "/me/two-factor/enable",
        "logged in",
        "Turn two-factor on with a current code; returns 10 single-use recovery codes",
        {"code": {"type": "string", "minLength": 6, "maxLength": 20}},
        200,
    ),
    ("delete", "/me/two-factor", "logged in", "Turn two-factor off", {"password": _PASSWORD}, 204),
]
REQUIRED.update(
    {
        ("post", "/me/password"): ["current_password", "new_password"],
        ("post", "/me/email"): ["password", "new_email"],
        ("post", "/auth/confirm-email"): ["token"],
        ("delete", "/me"): ["password"],
        ("post", "/me/two-factor/enable"): ["code"],
        ("delete", "/me/two-factor"): ["password"],
    }
)
RESPONSES.update(
    {
        ("patch", "/me"): _one("user", _ref("User")),
        ("post", "/me/email"): _EMPTY,
        ("get", "/me/export"): {
            "type": "object",
            "required": ["profile", "tickets", "messages", "ratings", "feedback", "sessions", "logins"],
            "properties": {
                "exported_at": _TIME,
                "profile": _ref("User"),
                "tickets": {"type": "array", "items": {"type": "object"}},
                "messages": {"type": "array", "items": {"type": "object"}},
                "ratings": {"type": "array", "items": {"type": "object"}},
                "feedback": {"type": "array", "items": {"type": "object"}},
                "sessions": {"type": "array", "items": {"type": "object"}},
                "logins": {"type": "array", "items": {"type": "object"}},
            },
        },
        ("post", "/me/two-factor"): {
            "type": "object",
            "required": ["secret", "otpauth_uri"],
            "properties": {"secret": _STR, "otpauth_uri": _STR},
        },
        ("post", "/me/two-factor/enable"): _one(
            "recovery_codes", {"type": "array", "items": _STR, "minItems": 10, "maxItems": 10}
        ),
    }
)


# --- integrations: API tokens and webhooks (contract v2) ----------------------------------------
_WEBHOOK_EVENT = {
    "enum": ["ticket.created", "ticket.assigned", "ticket.closed", "ticket.reopened", "message.created"]
}
_WEBHOOK = {
    "type": "object",
    "required": ["id", "url", "events"],
    "properties": {
        "id": _ID,
        "url": {"type": "string", "format": "uri"},
        "events": {"type": "array", "items": _WEBHOOK_EVENT},
        "secret": {"type": "string", "description": "only in the answer to POST /webhooks"},
        "created_at": _TIME,
    },
}
_API_TOKEN = {
    "type": "object",
    "required": ["id", "name"],
    "properties": {
        "id": _ID,
        "name": _STR,
        "created_at": _TIME,
        "last_used_at": {"type": ["string", "null"], "format": "date-time"},
    },
}
ROUTES += [
    (
        "post",
        "/me/tokens",
        "agent, admin",
        "Create an API token (shown once); use it as `Authorization: Bearer <token>`",
        {"name": {"type": "string", "minLength": 1, "maxLength": 100}},
        201,
    ),
    ("get", "/me/tokens", "agent, admin", "The caller's API tokens (never their values)", {}, 200),
    ("delete", "/me/tokens/{id}", "agent, admin", "Revoke one of the caller's tokens", {}, 204),
    (
        "post",
        "/webhooks",
        "admin",
        "Send events to a URL (public addresses only); the answer holds the signing secret",
        {
            "url": {"type": "string", "minLength": 1, "maxLength": 2000},
            "events": {"type": "array", "minItems": 1, "items": _WEBHOOK_EVENT},
        },
        201,
    ),
    ("get", "/webhooks", "admin", "Webhooks and their most recent deliveries", {}, 200),
    ("delete", "/webhooks/{id}", "admin", "Delete a webhook and its pending deliveries", {}, 204),
]
REQUIRED.update({("post", "/me/tokens"): ["name"], ("post", "/webhooks"): ["url", "events"]})
RESPONSES.update(
    {
        ("post", "/me/tokens"): {
            "type": "object",
            "required": ["token", "id"],
            "properties": {"token": {"type": "string"}, "id": _ID},
        },
        ("get", "/me/tokens"): _many("tokens", _API_TOKEN),
        ("post", "/webhooks"): _one("webhook", _WEBHOOK),
        ("get", "/webhooks"): {
            "type": "object",
            "required": ["webhooks", "deliveries"],
            "properties": {
                "webhooks": {"type": "array", "items": _WEBHOOK},
                "deliveries": {"type": "array", "items": {"type": "object"}},
            },
        },
    }
)


@cache
def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, who, summary, fields, status in ROUTES:
        success: dict[str, Any] = {"description": "success"}
        if status != 204:
            if (method, path) in BINARY:
                success["content"] = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
            else:
                schema = RESPONSES.get((method, path), {"type": "object"})
                success["content"] = {"application/json": {"schema": schema}}
        operation: dict[str, Any] = {
            "operationId": method + "".join(p.strip("{}").title() for p in path.replace("-", "/").split("/")),
            "summary": summary,
            "description": f"Who: {who}.",
            "responses": {
                str(status): success,
                "default": {
                    "description": "error",
                    "content": {"application/json": {"schema": _ref("Error")}},
                },
            },
        }
        parameters = list(QUERY.get((method, path), []))
        if "{id}" in path:
            parameters.insert(0, {"name": "id", "in": "path", "required": True, "schema": _ID})
        if parameters:
            operation["parameters"] = parameters
        if (method, path) in UPLOADS:
            upload = {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
            operation["requestBody"] = {
                "required": True,
                "content": {"multipart/form-data": {"schema": upload}},
            }
        if fields:
            body: dict[str, Any] = {"type": "object", "properties": fields}
            if (method, path) in REQUIRED:
                body["required"] = REQUIRED[(method, path)]
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
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
                "Attachment": _ATTACHMENT,
            }
        },
        "paths": paths,
    }
