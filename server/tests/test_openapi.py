import re


def _routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        routes |= {(method.lower(), path) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def test_document_matches_the_routes(app, client):
    document = client.get("/api/openapi.json").json
    assert document["openapi"].startswith("3.")
    documented = {(method, path) for path, operations in document["paths"].items() for method in operations}
    assert documented == _routes(app)


def test_every_reference_resolves(client):
    document = client.get("/api/openapi.json").json
    text = str(document)
    for ref in set(re.findall(r"#/components/(\w+)/(\w+)", text)):
        section, name = ref
        assert name in document["components"][section], ref


def test_path_parameters_are_declared(client):
    document = client.get("/api/openapi.json").json
    for path, operations in document["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for operation in operations.values():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == names, (path, operation["summary"])
