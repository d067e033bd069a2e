"""The OpenAPI document describes the API as it behaves."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api


async def document(api: Api) -> dict[str, Any]:
    answer = await api.client.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    found: dict[str, Any] = answer.json()
    return found


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in doc["paths"].items()
        for method, operation in methods.items()
    ]


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    found: dict[str, Any] = doc
    for part in ref.removeprefix("#/").split("/"):
        found = found[part]
    return found


async def test_every_answer_and_refusal_is_described(api: Api) -> None:
    doc = await document(api)
    assert doc["paths"], "routes are documented"
    for method, path, operation in operations(doc):
        responses = operation["responses"]
        assert "422" not in responses, (method, path)
        for status in ("400", "401", "404"):
            error = responses[status]["content"]["application/json"]["schema"]
            assert resolve(doc, error)["title"] == "ErrorBody", (method, path, status)
        success = [s for s in responses if s.startswith("2")]
        assert len(success) == 1, (method, path)
        if success[0] != "204":
            schema = responses[success[0]]["content"]["application/json"]["schema"]
            assert schema != {"type": "string"}, (method, path)
    assert "HTTPValidationError" not in doc["components"]["schemas"]


async def test_request_bodies_have_examples_and_patches_refuse_null(api: Api) -> None:
    doc = await document(api)
    bodies = 0
    for method, path, operation in operations(doc):
        if "requestBody" not in operation:
            continue
        bodies += 1
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        if "anyOf" in schema:  # an optional body
            schema = next(s for s in schema["anyOf"] if s.get("type") != "null")
        model = resolve(doc, schema)
        assert model.get("examples"), (method, path)
        if method == "PATCH":
            nullable = {
                name
                for name, prop in model["properties"].items()
                if any(option.get("type") == "null" for option in prop.get("anyOf", []))
            }
            # affiliate_events: null brings back the default rule (domain/lifecycle.py).
            # partner_secret: null removes the stored secret (our token is then required).
            # bot_url: null sends bots to the destination like everyone.
            allowed = {
                "fallback_url",
                "offer_id",
                "body",
                "affiliate_events",
                "partner_secret",
                "bot_url",
            }
            assert nullable <= allowed, (path, nullable)
    assert bodies >= 10


async def test_documented_examples_are_accepted(api: Api) -> None:
    """The example of a create body is a valid request (after its ids exist)."""
    doc = await document(api)
    adv_example = resolve(doc, {"$ref": "#/components/schemas/AdvertiserCreate"})["examples"][0]
    adv = await api.admin("POST", "/api/v1/advertisers", json=adv_example)
    assert adv.status_code == 201, adv.text
    offer_example = resolve(doc, {"$ref": "#/components/schemas/OfferCreate"})["examples"][0]
    offer = await api.admin(
        "POST", "/api/v1/offers", json={**offer_example, "advertiser_id": adv.json()["id"]}
    )
    assert offer.status_code == 201, offer.text
    aff_example = resolve(doc, {"$ref": "#/components/schemas/AffiliateCreate"})["examples"][0]
    aff = await api.admin("POST", "/api/v1/affiliates", json=aff_example)
    assert aff.status_code == 201, aff.text
    pb_example = resolve(doc, {"$ref": "#/components/schemas/PostbackCreate"})["examples"][0]
    config = await api.admin(
        "POST", "/api/v1/postbacks", json={**pb_example, "affiliate_id": aff.json()["id"]}
    )
    assert config.status_code == 201, config.text


async def test_405_names_every_allowed_method(api: Api) -> None:
    answer = await api.admin("PUT", "/api/v1/postbacks/1")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "DELETE, GET, PATCH"
    assert answer.json()["error"]["code"] == "method_not_allowed"
