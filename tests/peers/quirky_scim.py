"""A SCIM server with the quirks real vendors ship, each behind a switch, so
that every quirk the SCIM connector must survive is one named test.

    python3 quirky_scim.py PORT [QUIRK ...]

Quirks:
  active-string    "active" is sent as a string ("False", "TRUE")
  filter-404       a filter that matches nothing answers 404, not an empty list
  html-500-once    the first POST /Users answers 500 with an HTML page
  ignore-paging    every list answers all users, whatever startIndex and count
  total=N          every list says totalResults N
  patch-empty-200  PATCH answers 200 with an empty body
  no-location      POST answers 201 without a Location header
  active-unreadable "active" is sent as "N" (neither true nor false)

Users are kept in memory; POST /_seed with {"userName": ..., "active": ...}
adds one without any quirk, GET /_raw lists them as held. Standard library only.
"""

import json
import re
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

USERS = {}
LOCK = threading.Lock()
QUIRKS = set()
TOTAL = None
STATE = {"posts": 0}
HTML_500 = (
    "<!DOCTYPE html><html><head><title>500 Internal Server Error</title>"
    "<style>body{font-family:sans-serif}</style></head><body><h1>Internal Server Error</h1>"
    "<p>The server encountered an internal error and was unable to complete your request.</p>"
    + "<!-- padding -->" * 200
    + "</body></html>"
)


def shown(user):
    out = dict(user)
    if "active-string" in QUIRKS and "active" in out:
        out["active"] = "False" if not out["active"] else "TRUE"
    if "active-unreadable" in QUIRKS and "active" in out:
        out["active"] = "N"
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=None, content_type="application/scim+json", headers=()):
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    def do_GET(self):
        url = urlparse(self.path)
        q = parse_qs(url.query)
        if url.path == "/_raw":
            with LOCK:
                return self.reply(200, list(USERS.values()), content_type="application/json")
        if url.path == "/v2/Users":
            with LOCK:
                users = list(USERS.values())
            flt = q.get("filter", [None])[0]
            if flt:
                m = re.match(r'userName eq "(.*)"', flt)
                name = m.group(1).lower() if m else None
                users = [u for u in users if u["userName"].lower() == name]
                if not users and "filter-404" in QUIRKS:
                    return self.reply(404, {"detail": "no such user", "status": "404"})
            total = len(users)
            if "ignore-paging" not in QUIRKS:
                start = int(q.get("startIndex", ["1"])[0])
                count = int(q.get("count", ["100"])[0])
                users = users[start - 1 : start - 1 + count]
            body = {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                "totalResults": TOTAL if TOTAL is not None else total,
                "Resources": [shown(u) for u in users],
            }
            return self.reply(200, body)
        m = re.match(r"^/v2/Users/([^/]+)$", url.path)
        if m:
            with LOCK:
                user = USERS.get(m.group(1))
            return self.reply(200, shown(user)) if user else self.reply(404, {"status": "404"})
        self.reply(404, {"status": "404"})

    def do_POST(self):
        url = urlparse(self.path)
        if url.path == "/_seed":
            return self.create(self.body(), quirks=False)
        if url.path == "/v2/Users":
            with LOCK:
                STATE["posts"] += 1
                first = STATE["posts"] == 1
            if first and "html-500-once" in QUIRKS:
                return self.reply(500, HTML_500.encode(), content_type="text/html; charset=utf-8")
            return self.create(self.body(), quirks=True)
        self.reply(404, {"status": "404"})

    def create(self, user, quirks):
        user = dict(user)
        user["id"] = str(uuid.uuid4())
        user.setdefault("active", True)
        with LOCK:
            taken = any(u["userName"].lower() == user["userName"].lower() for u in USERS.values())
            if not taken:
                USERS[user["id"]] = user
        if taken:
            return self.reply(409, {"status": "409", "scimType": "uniqueness", "detail": "userName is taken"})
        headers = [] if quirks and "no-location" in QUIRKS else [("Location", f"/v2/Users/{user['id']}")]
        self.reply(201, shown(user) if quirks else user, headers=headers)

    def do_PATCH(self):
        m = re.match(r"^/v2/Users/([^/]+)$", urlparse(self.path).path)
        with LOCK:
            user = USERS.get(m.group(1)) if m else None
            if user is None:
                return self.reply(404, {"status": "404"})
            for op in self.body().get("Operations", []):
                if op.get("path") == "active":
                    user["active"] = bool(op.get("value"))
                elif op.get("path"):
                    user[op["path"]] = op.get("value")
        if "patch-empty-200" in QUIRKS:
            return self.reply(200)
        self.reply(200, shown(user))

    def do_DELETE(self):
        m = re.match(r"^/v2/Users/([^/]+)$", urlparse(self.path).path)
        with LOCK:
            gone = USERS.pop(m.group(1), None) if m else None
        self.reply(204) if gone else self.reply(404, {"status": "404"})


if __name__ == "__main__":
    port = int(sys.argv[1])
    for quirk in sys.argv[2:]:
        if quirk.startswith("total="):
            TOTAL = int(quirk.split("=", 1)[1])
        else:
            QUIRKS.add(quirk)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
