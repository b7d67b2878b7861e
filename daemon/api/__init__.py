"""The daemon's HTTP server: a small router served by waitress.

Routes are registered on a `Router` (`server.router.add("GET", "/healthz", fn)`),
so the service adds /healthz and /metrics and the report adds /reports next to
the ingest routes (ingest.py):

    POST /v1/models/{name}/predictions   JSON array or JSON Lines, gzip accepted
    POST /v1/models/{name}/labels

and the read-only /v1 JSON (v1.py): /v1/models, /v1/models/{name},
/v1/models/{name}/checks, /v1/alerts, /v1/jobs, /v1/frameworks, and
/v1/openapi.json, the OpenAPI 3.1 document of every /v1 path.

Ingest answers 202 with the counts of accepted and rejected rows; 400 for a body
that cannot be read whole (truncated or corrupt gzip, nesting past the limit),
401 without a valid bearer token, 403 for a foreign Origin, 404 for an unknown
model, 413 over the size limit, 415 for a type other than JSON or JSON Lines,
421 for a Host that is not this server's (DNS rebinding), 503 with Retry-After
when the store cannot take the write (retry the same batch).

Who may call what (`Access`): /healthz is open (systemd and load balancers probe
it); /metrics, /reports, the page (/, /models/{name}) and the /v1 reads are open
on loopback and need the read token or the API token beyond it; ingest needs the
API token, or nothing on loopback when no token is configured. Binding beyond
loopback without a token is refused.

waitress, not the standard library's ThreadingHTTPServer: a fixed pool of worker
threads, one poll loop for every connection (so thousands of idle sockets cost
file descriptors, not threads), a limit on open connections, an inactivity
timeout for headers and bodies, and a whole body received before a handler runs.

The rooms: router.py (routes, requests, responses, who may call what),
server.py (the server, its lifecycle and the doors every request passes),
body.py (a request's headers and body off WSGI), ingest.py (the ingest routes),
failures.py (the server's errors, and which ones mean "retry later"), and the
/v1 reads: v1.py (the endpoint table and its handlers), v1_params.py (endpoint
and query parameter declarations, parsed into 400s that say what is accepted),
v1_queries.py (the store reads), v1_names.py (the names a 404 lists),
v1_schema.py (the response models) and
openapi.py (the document, from all of these); page/ is the page at / and
/models/{name}.
"""

from daemon.api.failures import ApiError, InsecureBind, store_unavailable
from daemon.api.router import Access, Request, Response, Router
from daemon.api.server import ApiServer

__all__ = [
    "Access",
    "ApiError",
    "ApiServer",
    "InsecureBind",
    "Request",
    "Response",
    "Router",
    "store_unavailable",
]
