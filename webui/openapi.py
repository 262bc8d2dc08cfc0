"""The OpenAPI 3.1 document of /api/v1, built from one table of operations."""

from __future__ import annotations

_FILES = {"type": "object", "additionalProperties": {"type": "string"},
          "description": "the site's files: pnsbox.yaml and opds/NAME.yaml, name -> YAML text"}
_CONFIRM = {"type": ["integer", "null"], "minimum": 0, "maximum": 3600,
            "description": "seconds until an unconfirmed change is rolled back (default 120; 0/null: admins only)"}
_OBJECT = {"type": "object"}

# path, method, summary, who may, request body schema (or None), path parameters
OPERATIONS = [
    ("/status", "get", "What runs, what waits for a confirm, alerts", "everyone", None, []),
    ("/live", "get", "Per-OPD counters and HTB class stats for graphs (your OPDs only, for operators)", "everyone",
     None, []),
    ("/opds", "get", "The OPDs you may see, with their bandwidth plans", "everyone", None, []),
    ("/opds/{name}", "get", "One OPD", "everyone (operators: their own)", None, ["name"]),
    ("/opds/{name}/bandwidth", "put", "Change an OPD's guarantee and ceiling and apply it with a confirm deadline",
     "admin; operator for their own OPDs",
     {"type": "object", "required": ["guaranteed", "ceiling"],
      "properties": {"guaranteed": {"type": "string", "example": "50mbit"},
                     "ceiling": {"type": "string", "example": "200mbit"},
                     "confirm": _CONFIRM, "message": {"type": "string"}}}, ["name"]),
    ("/policies", "get", "The ordered policies you may see", "everyone", None, []),
    ("/explain", "post", "Which policy decides FROM -> TO on PORT, and which class shapes it",
     "everyone (operators: about their own OPDs)",
     {"type": "object", "required": ["from", "to"],
      "properties": {"from": {"type": "string"}, "to": {"type": "string"},
                     "port": {"type": "string", "example": "tcp/443"}}}, []),
    ("/config", "get", "The running version's files", "admin, auditor", None, []),
    ("/plan", "post", "What applying these files would change", "admin; operator within their scope",
     {"type": "object", "required": ["files"], "properties": {"files": _FILES}}, []),
    ("/apply", "post", "Apply a whole site", "admin; operator for their own OPDs' bandwidth plans",
     {"type": "object", "required": ["files"],
      "properties": {"files": _FILES, "message": {"type": "string"}, "confirm": _CONFIRM}}, []),
    ("/confirm", "post", "Keep the change that waits for a confirm", "admin; operator for their own change",
     None, []),
    ("/rollback", "post", "Apply an earlier version again", "admin",
     {"type": "object", "required": ["version"],
      "properties": {"version": {"type": "integer"}, "confirm": _CONFIRM}}, []),
    ("/history", "get", "Every applied version (without files)", "admin, auditor", None, []),
    ("/versions/{version}", "get", "One version with its files", "admin, auditor", None, ["version"]),
    ("/diff/{a}/{b}", "get", "A unified diff of two versions", "admin, auditor", None, ["a", "b"]),
    ("/audit", "get", "The audit trail and whether its hash chain holds", "admin, auditor", None, []),
    ("/usage", "get", "A month's bytes and packets per OPD you may see (query month=YYYY-MM)", "everyone",
     None, []),
    ("/reports/{month}", "get", "A month's evaluation per OPD you may see: bytes, average, p95 and peak rates, "
     "when, hours near the ceiling, drops, utilisation; the province for admins and auditors", "everyone", None,
     ["month"]),
    ("/reports/{month}/hourly/{opd}", "get", "One OPD's month hour by hour (opd `*`: the province)", "everyone",
     None, ["month", "opd"]),
]

_ERRORS = {  # every error answer is {error, kind, problems, problems_said}; kind names its class in pnsbox/errors.py
    "400": "bad input (kind: bad-request)", "401": "no or invalid token", "403": "your role does not allow this "
    "(kind: forbidden), or the change would cut your management access (kind: refused)",
    "404": "not found, or not yours (kind: not-found)",
    "409": "the kernel refused (kind: kernel, plan), or the change failed its checks and was rolled back "
    "(kind: checks-failed)",
    "422": "the config has problems (kind: config): problems is a list of `FILE:LINE: path: message` in English; "
    "problems_said, in the same order, gives each one's {file, line, path, code, args} (null when it has no code) "
    "to word it in another language; `said` is the error's own {code, args} when it has one",
    "503": "pnsboxd is not reachable (kind: unreachable)",
}


def document() -> dict:
    paths: dict[str, dict] = {}
    for path, method, summary, who, body, params in OPERATIONS:
        operation = {"summary": summary, "description": f"Allowed: {who}.",
                     "responses": {"200": {"description": "done", "content": {"application/json": {"schema": _OBJECT}}},
                                   **{code: {"description": text} for code, text in _ERRORS.items()}}}
        if params:
            operation["parameters"] = [{"name": p, "in": "path", "required": True,
                                        "schema": {"type": "integer" if p in ("version", "a", "b") else "string"}}
                                       for p in params]
        if body:
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "pnsbox API", "version": "1",
                 "description": "Run the box: OPDs and their bandwidth plans, policies, changes with commit-confirm, "
                                "history and the audit trail. Roles: admin, operator (own OPDs), auditor (read-only)."},
        "servers": [{"url": "/api/v1"}],
        "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer",
                                                     "description": "a token from the account page"}}},
        "security": [{"token": []}],
        "paths": paths,
    }
