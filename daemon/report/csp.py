"""Content Security Policies for the pages mlmaint writes and serves.

Evidence pages run Evidently's own inline scripts. They are allowed by their
sha256 hashes, never by 'unsafe-inline', so markup that reaches a page from data
cannot run script even if it escaped the encoding. The policy is written into
the page as a <meta> before its first script (a file opened from disk has a
policy too) and served as a header; the header adds what a <meta> cannot carry.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re

# The HTML parser ends a script element at "</script" followed by any of these.
_SCRIPT = re.compile(r"<script\b[^>]*>(.*?)</script[\s/>]", re.IGNORECASE | re.DOTALL)
_META = re.compile(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', re.IGNORECASE)
# Characters that could end a <script> or open a comment in one, or end a JS line.
_JSON_UNSAFE = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)
# Only in a header: <meta> policies ignore frame-ancestors and sandbox.
_HEADER_ONLY = "frame-ancestors 'none'"


def script_json(text: str) -> str:
    """JSON text made safe inside a <script>: the same value, no markup characters.

    They can only occur inside JSON strings, where the \\u escapes mean the same.
    """
    return text.translate(_JSON_UNSAFE)


def dumps(value: object, **kwargs: object) -> str:
    return script_json(json.dumps(value, **kwargs))  # type: ignore[arg-type]


def inline_script_hashes(page: str) -> tuple[str, ...]:
    """The CSP source expressions of the page's inline scripts, in order, without repeats."""
    hashes: dict[str, None] = {}
    for body in _SCRIPT.findall(page):
        digest = hashlib.sha256(body.encode("utf-8")).digest()
        hashes["'sha256-" + base64.b64encode(digest).decode("ascii") + "'"] = None
    return tuple(hashes)


def evidence_policy(hashes: tuple[str, ...]) -> str:
    """Evidently's page: its scripts by hash, inline styles (MUI injects them), data: fonts."""
    scripts = " ".join(hashes) if hashes else "'none'"
    return (
        f"default-src 'none'; script-src {scripts}; style-src 'unsafe-inline'; "
        "img-src data:; font-src data:; object-src 'none'; base-uri 'none'; form-action 'none'"
    )


def with_meta_policy(page: str, policy: str) -> str:
    """The page with the policy as a <meta> at the start of its <head>, before any script."""
    meta = f'<meta http-equiv="Content-Security-Policy" content="{html.escape(policy)}">'
    head = re.search(r"<head[^>]*>", page, re.IGNORECASE)
    if head is None:
        raise ValueError("the page has no <head> to hold its policy")
    return page[: head.end()] + meta + page[head.end() :]


def written_policy(page: str) -> str | None:
    """The policy a page was written with: a <meta> before its first script, else None.

    A <meta> later in the page could come from data, so it does not count.
    """
    first_script = page.lower().find("<script")
    found = _META.search(page, 0, first_script if first_script >= 0 else len(page))
    return html.unescape(found.group(1)) if found else None


def header_policy(meta_policy: str) -> str:
    return f"{meta_policy}; {_HEADER_ONLY}"
