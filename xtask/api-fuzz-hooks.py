# Schemathesis hooks for `cargo xtask api-fuzz` (loaded through
# SCHEMATHESIS_HOOKS by xtask/src/api_fuzz.rs; written against the version
# pinned there). They drop, from the cases Schemathesis generates as *valid*
# input, the ones the OpenAPI document's prose refuses but no OpenAPI 3.0
# schema can express, so that the document's schemas stay exact and every
# check stays on for everything else. Negative cases are never touched: they
# are refused anyway, and each drop here would only hide what they test.

import re

from schemathesis import GenerationMode, hook
from schemathesis.generation.meta import TestPhase

# A key, a prefix, `{prefix}:{flowId}:`: at most this many bytes of UTF-8.
# The schemas' `maxLength` counts characters (exact for ASCII).
KEY_MAX_BYTES = 1024

# The operations that take a listing cursor.
CURSOR_IN_QUERY = {"listStates", "flowSummary", "flowInstances"}
CURSOR_IN_BODY = {"deletePrefix"}

# `{prefix}:{flowId}:` when `prefix` is absent.
DEFAULT_FLOW_PREFIX = "useflow"


def _is_positive(case):
    return case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE


def _too_long(text):
    return isinstance(text, str) and len(text.encode("utf-8", "surrogatepass")) > KEY_MAX_BYTES


def _generated_cursor(operation_id, case):
    """A cursor in the case. A cursor is opaque and made by the store: one
    that is well formed but was not handed out (all a schema can describe) is
    refused with 400 `invalid_argument`, so generated ones are not valid
    input. Cursors are exercised through the server's own tests, which page
    with the `next` it hands out."""
    if operation_id in CURSOR_IN_QUERY:
        return (case.query or {}).get("cursor") is not None
    if operation_id in CURSOR_IN_BODY:
        return isinstance(case.body, dict) and case.body.get("cursor") is not None
    return False


def _over_key_bytes(operation_id, case):
    """A key or prefix within `maxLength` characters but over 1024 bytes."""
    path = case.path_parameters or {}
    query = case.query or {}
    body = case.body if isinstance(case.body, dict) else {}
    texts = [path.get("key"), query.get("prefix"), body.get("prefix")]
    if operation_id in ("flowSummary", "flowInstances"):
        first = query.get("prefix", DEFAULT_FLOW_PREFIX)
        flow_id = path.get("flowId")
        if isinstance(first, str) and isinstance(flow_id, str):
            texts.append(f"{first}:{flow_id}:")
    keys = body.get("keys")
    if isinstance(keys, list):
        texts.extend(keys)
    items = body.get("items")
    if isinstance(items, list):
        texts.extend(item.get("key") for item in items if isinstance(item, dict))
    return any(_too_long(text) for text in texts)


def _both_conditions(operation_id, case):
    """`If-Match` with `If-None-Match` on PUT: each is valid alone and the
    pair is 400 `invalid_argument` (docs/http.md); OpenAPI 3.0 cannot say
    "not both"."""
    if operation_id != "putState":
        return False
    names = {name.lower() for name in (case.headers or {})}
    return {"if-match", "if-none-match"} <= names


# `If-Match`'s pattern in the document (components/parameters/IfMatch).
STRONG_TAG = re.compile(r'^"[A-Za-z0-9._~-]{1,64}"$')
VERSION = re.compile(r"^[A-Za-z0-9._~-]{1,64}$")


def _unquoted_if_match(case):
    """Schemathesis 4.32.5's coverage phase sends, as a valid `If-Match`, a
    value generated for the tag inside the pattern's quotes without them
    (`If-Match: 0`), which the pattern does not match and the server rightly
    refuses with 400. Such a case is quoted (`"0"`), which is what the
    coverage case meant; its answer is then 412 or 2xx, as for any tag."""
    if case.meta is None or case.meta.phase.name != TestPhase.COVERAGE:
        return None
    headers = case.headers or {}
    for name, value in headers.items():
        if name.lower() == "if-match" and isinstance(value, str):
            if not STRONG_TAG.match(value) and VERSION.match(value):
                return name
    return None


@hook
def map_case(context, case):
    if not _is_positive(case):
        return case
    name = _unquoted_if_match(case)
    if name is not None:
        case.headers[name] = f'"{case.headers[name]}"'
    return case


@hook
def filter_case(context, case):
    if not _is_positive(case):
        return True
    operation_id = case.operation.definition.raw.get("operationId")
    return not (
        _generated_cursor(operation_id, case)
        or _over_key_bytes(operation_id, case)
        or _both_conditions(operation_id, case)
    )
