"""The Python client against the real server."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid

import pytest

from promptrefine import AsyncClient, Client, MissingVariables, Prompt, PromptRefineError

# Inputs whose server answers the client must reproduce exactly.
RENDER_CASES = [
    ("Hello {{name}}!", {"name": "Ada"}),
    ("{{ name }} and {{name}}", {"name": "x"}),
    ("{{{name}}}", {"name": "v"}),
    ("\\{{name}} stays", {"name": "v"}),
    ("\\\\{{name}}", {"name": "v"}),
    ('{"json": {{}}, "bad": {{ not valid! }}, "n": {{1st}}}', {}),
    ("{{customer.first_name}} {{_x}}", {"customer.first_name": "Bo", "_x": "{{name}}"}),
    ("\\{{{name}}}", {"name": "v"}),
    ("naïve {{ü}} {{a}}", {"a": "ü"}),
]


def make_prompt(server, content, title=None) -> dict:
    with server.api() as api:
        body = {"title": title or f"p {uuid.uuid4().hex[:8]}", "type": "text", "content": content}
        r = api.post("/api/prompts", json=body)
        assert r.status_code == 201, r.text
        return r.json()["data"]


@pytest.mark.parametrize("template,values", RENDER_CASES)
def test_render_gives_the_servers_answer(server, template, values):
    p = make_prompt(server, template)
    with server.api() as api:
        r = api.post(f"/api/prompts/{p['id']}/render", json={"variables": values})
    assert r.status_code == 200, r.text
    with Client(server.url, server.token) as c:
        got = c.get_prompt(p["slug"])
    assert got.render(values) == r.json()["data"]["content"]


def test_missing_variables_are_named_as_the_server_names_them(server):
    p = make_prompt(server, "{{b}} {{a}} {{b}} {{c}}")
    with server.api() as api:
        r = api.post(f"/api/prompts/{p['id']}/render", json={"variables": {"a": "1"}})
    assert r.status_code == 422
    server_names = re.findall(r'"variables\.([^"]+)"', json.dumps(r.json()))
    with Client(server.url, server.token) as c:
        with pytest.raises(MissingVariables) as e:
            c.get_prompt(p["slug"]).render({"a": "1"})
    assert e.value.names == ["b", "c"]
    assert sorted(set(server_names)) == sorted(e.value.names)


def test_get_prompt_by_label_and_by_version_and_revalidates_by_etag(server):
    p = make_prompt(server, "v1 {{x}}")
    with server.api() as api:
        v2 = api.post(f"/api/prompts/{p['id']}/versions", json={"content": "v2"}).json()["data"]
        r = api.put(f"/api/prompts/{p['id']}/labels/production", json={"versionId": p["currentVersionId"]})
        assert r.status_code == 200, r.text
    with Client(server.url, server.token) as c:
        assert c.get_prompt(p["slug"]).version == v2["version"]
        prod = c.get_prompt(p["slug"], label="production")
        assert (prod.version, prod.label, prod.content) == (1, "production", "v1 {{x}}")
        assert c.get_prompt(p["slug"], version=2).content == "v2"
        again = c.get_prompt(p["slug"], label="production")
        assert again.etag == prod.etag and not again.stale  # a 304 kept the copy
        with pytest.raises(PromptRefineError) as e:
            c.get_prompt("no-such-prompt")
        assert e.value.status == 404


def test_a_copy_is_served_stale_when_the_server_is_down_and_only_within_its_bound(own_server):
    p = make_prompt(own_server, "kept")
    with Client(own_server.url, own_server.token, stale_for=2.0, timeout=1.0) as c:
        fresh = c.get_prompt(p["slug"])
        own_server.stop()
        stale = c.get_prompt(p["slug"])
        assert (stale.stale, stale.content) == (True, "kept")
        c._cache.entries[(p["slug"], "current")].fetched_at -= 3.0
        with pytest.raises(PromptRefineError):
            c.get_prompt(p["slug"])
        assert not fresh.stale


def test_a_cold_start_with_the_server_down_uses_the_fallback(own_server):
    url = own_server.url
    own_server.stop()
    fallback = Prompt(slug="greeting", content="Hi {{name}}")
    with Client(url, "pr_none", timeout=1.0) as c:
        got = c.get_prompt("greeting", label="production", fallback=fallback)
        assert got.from_fallback and got.render({"name": "Al"}) == "Hi Al"
        with pytest.raises(PromptRefineError):
            c.get_prompt("greeting")


def test_the_async_client_watches_and_refreshes_its_copy_on_push(server):
    p = make_prompt(server, "w1")

    async def scenario():
        async with AsyncClient(server.url, server.token, max_age=3600) as c:
            first = await c.get_prompt(p["slug"])
            assert first.content == "w1"
            c.watch(p["slug"])
            await asyncio.sleep(0.3)
            with server.api() as api:
                api.post(f"/api/prompts/{p['id']}/versions", json={"content": "w2"})
            deadline = time.monotonic() + 5
            while (await c.get_prompt(p["slug"])).content != "w2":
                assert time.monotonic() < deadline, "the push did not refresh the copy"
                await asyncio.sleep(0.05)

    asyncio.run(scenario())
