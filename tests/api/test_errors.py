"""Every refusal has the {"error": {"code", "message", ...}} shape and a 4xx."""

from __future__ import annotations

from tests.api.conftest import Api, error_of


async def test_unknown_path_and_method(api: Api) -> None:
    error_of(await api.admin("GET", "/api/v1/nothing-here"), 404, "not_found")
    wrong = await api.admin("PUT", "/api/v1/advertisers")
    error_of(wrong, 405, "method_not_allowed")
    assert "allow" in wrong.headers


async def test_malformed_json(api: Api) -> None:
    headers = {"content-type": "application/json"}
    for raw in [b"{bad", b'{"name": NaN}', b'{"name": Infinity}', b"\xff\xfe"]:
        answer = await api.admin("POST", "/api/v1/advertisers", content=raw, headers=headers)
        assert answer.status_code == 400, (raw, answer.text)
        assert answer.json()["error"]["code"] in {"invalid_json", "bad_request"}


async def test_body_must_be_an_object(api: Api) -> None:
    for body in [[], "x", 3, None]:
        answer = await api.admin("POST", "/api/v1/advertisers", json=body)
        error = error_of(answer, 400, "invalid_param")
        assert error["param"] == "body"


async def test_unknown_field_refused(api: Api) -> None:
    answer = await api.admin("POST", "/api/v1/affiliates", json={"name": "a", "colour": "red"})
    error = error_of(answer, 400, "invalid_param")
    assert error["param"] == "colour"
    assert error["message"] == "unknown field"


async def test_missing_field_and_several_errors(api: Api) -> None:
    answer = await api.admin("POST", "/api/v1/offers", json={"name": ""})
    error = error_of(answer, 400, "invalid_param")
    params = {item["param"] for item in error["errors"]}
    assert {"advertiser_id", "name", "destination_url", "revenue", "payout"} <= params
    assert error["param"] in params


async def test_bad_path_ids(api: Api) -> None:
    error = error_of(await api.admin("GET", "/api/v1/offers/abc"), 400, "invalid_param")
    assert error["param"] == "offer_id"
    error_of(await api.admin("GET", "/api/v1/offers/0"), 400, "invalid_param")
    error_of(await api.admin("GET", f"/api/v1/offers/{2**64}"), 400, "invalid_param")
    error_of(await api.admin("GET", f"/api/v1/offers/{2**63 - 1}"), 404, "not_found")


async def test_text_the_database_cannot_hold_is_refused(api: Api) -> None:
    answer = await api.admin("POST", "/api/v1/affiliates", json={"name": "a\x00b"})
    assert error_of(answer, 400, "invalid_param")["param"] == "name"
    raw = b'{"name": "\\ud800"}'
    answer = await api.admin(
        "POST", "/api/v1/affiliates", content=raw, headers={"content-type": "application/json"}
    )
    assert error_of(answer, 400, "invalid_param")["param"] == "name"
    long = await api.admin("POST", "/api/v1/affiliates", json={"name": "n" * 256})
    assert error_of(long, 400, "invalid_param")["param"] == "name"


async def test_openapi_and_docs(api: Api) -> None:
    schema = await api.client.get("/api/v1/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in [
        "/api/v1/advertisers",
        "/api/v1/offers/{offer_id}",
        "/api/v1/affiliates",
        "/api/v1/postbacks/{postback_id}",
        "/api/v1/conversions",
        "/api/v1/deliveries/{delivery_id}/retry",
        "/api/v1/incoming",
    ]:
        assert path in paths
    docs = await api.client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
