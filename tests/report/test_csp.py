"""The pieces of a page's policy: JSON safe in a <script>, hashes, the written <meta>."""

from __future__ import annotations

import base64
import hashlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.report import csp

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_script_json_is_the_same_value_without_markup(value: object) -> None:
    text = csp.dumps(value, ensure_ascii=False)
    assert json.loads(text) == value
    assert not set(text) & {"<", ">", "&", "\u2028", "\u2029"}


def test_a_breakout_stays_inside_its_string() -> None:
    text = csp.dumps({"</script><img src=x onerror=alert(1)>": "<!--<script>"})
    assert text == (
        '{"\\u003c/script\\u003e\\u003cimg src=x onerror=alert(1)\\u003e": '
        '"\\u003c!--\\u003cscript\\u003e"}'
    )


def test_hashes_are_those_of_each_inline_script() -> None:
    page = "<html><head><script>var a = 1;</script></head><body><script >b()</script></body>"
    expected = tuple(
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in (b"var a = 1;", b"b()")
    )
    assert csp.inline_script_hashes(page) == expected
    assert "'unsafe-inline'" not in csp.evidence_policy(expected).split("style-src")[0]


def test_only_a_policy_written_before_the_first_script_counts() -> None:
    policy = csp.evidence_policy(("'sha256-abc'",))
    page = csp.with_meta_policy("<html><head><script>x</script></head></html>", policy)
    assert csp.written_policy(page) == policy
    # A page written without one: a <meta> that data put after a script is ignored.
    legacy = (
        '<html><head><script>var d = "</script><meta http-equiv="Content-Security-Policy" '
        'content="script-src \'unsafe-inline\'">";</script></head></html>'
    )
    assert csp.written_policy(legacy) is None
    assert "script-src 'none'" in csp.evidence_policy(())
    assert csp.header_policy(policy).endswith("frame-ancestors 'none'")
