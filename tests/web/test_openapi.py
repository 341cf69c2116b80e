"""OpenAPI and /docs: every error body and the blank rule documented, Swagger UI's assets served by the app itself."""

from __future__ import annotations


def test_openapi_documents_every_error_body_and_the_blank_rule(client):
    spec = client.get("/openapi.json").json()
    search = spec["paths"]["/api/search"]["get"]
    for status in ("422", "500", "503"):
        assert "$ref" in search["responses"][status]["content"]["application/json"]["schema"], status
    q = next(p for p in search["parameters"] if p["name"] == "q")
    # the rule in words (a pattern of control characters rendered as a row of boxes in /docs, and Swagger UI could not compile it)
    assert "pattern" not in q["schema"] and "a `q` with nothing left is refused" in q["description"]
    limit = next(p for p in search["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 100)
    assert "$ref" in spec["paths"]["/health"]["get"]["responses"]["503"]["content"]["application/json"]["schema"]


def test_docs_load_their_assets_from_the_app_itself(client):
    page = client.get("/docs").text
    assert "cdn." not in page and "/docs/assets/swagger-ui-bundle.js" in page and "/docs/assets/swagger-ui.css" in page
    for name, kind in (("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "css")):
        asset = client.get(f"/docs/assets/{name}")
        assert asset.status_code == 200 and kind in asset.headers["content-type"] and len(asset.content) > 10_000
    assert client.get("/docs/assets/..%2F..%2Fconfig.py").status_code == 404
    assert client.get("/redoc").status_code == 404
