"""A sales platform's proof that a postback is its own (domain/templates.py `PartnerAuth`):
its secret as it is in a header or a field, or an HMAC of the raw body keyed with it."""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence

from postback.domain.ids import same_secret
from postback.domain.templates import PartnerAuth


def partner_proof(
    auth: PartnerAuth,
    secret: str,
    headers: Mapping[str, str],
    params: Mapping[str, Sequence[str]],
    query: Mapping[str, Sequence[str]],
    body: bytes,
) -> bool | None:
    """True when the request proves the secret, False when what it offers is wrong, None
    when it offers nothing of the kind. Every offered proof is compared, in constant time.

    `params` are the postback's fields (query and body), `query` the query alone: a body
    cannot carry the signature of itself."""
    offered: list[bool] = []
    for name in auth.headers:
        value = headers.get(name)
        if value is not None:
            offered.append(same_secret(value.strip(), secret))
    for name in auth.fields:
        values = params.get(name)
        if values:
            offered.extend(same_secret(value.strip(), secret) for value in values)
    signatures = list(query.get(auth.hmac_query, ())) if auth.hmac_query else []
    if auth.hmac_header and auth.hmac_header in headers:
        signatures.append(headers[auth.hmac_header])
    if signatures:
        expected = hmac.new(secret.encode(), body, auth.digest).hexdigest().encode()
        offered.extend(
            hmac.compare_digest(signature.strip().lower().encode("utf-8", "replace"), expected)
            for signature in signatures
        )
    if not offered:
        return None
    return all(offered)
