"""The admin's dead letters on SQLite, PostgreSQL and MariaDB: /dead-letters and its JSON API.

Dead letters are written as jobu-queued writes them (Store.queue_commit_batch, the reason
being what jobu.operations.queue_messages says of the message); the pages and the API then
show them with their raw bytes, replay them against queue.yaml as it is now (the classic
case: a handler missing from allowed_handlers, then added) and discard them.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
import yaml

from jobu.admin import create_app
from jobu.config import TopicConfig
from jobu.model import ExecutionFilter, ParamSource
from jobu.operations.queue_messages import Record, Rejected, to_execution
from jobu.operations.users import Role, issue_api_token
from jobu.store.queue import NewDeadLetter
from tests.support.admin_site import AdminSite

TOPIC = "orders"
#: queue.yaml's topic before the fix: only `noop` may run.
STRICT = {"allowed_handlers": ["noop"]}
#: ... and after it: `sleep` may run too.
FIXED = {"allowed_handlers": ["noop", "sleep"]}


def write_queue_yaml(directory: Path, *, enabled: bool = True, topic=None) -> None:
    settings = yaml.safe_load((directory / "queue.yaml").read_text()) or {}
    settings.update({"enabled": enabled, "kafka": {"bootstrap_servers": ["127.0.0.1:9092"]},
                     "topics": {TOPIC: topic or STRICT}})
    if not enabled:
        settings.update(topics={}, kafka={"bootstrap_servers": []})
    (directory / "queue.yaml").write_text(yaml.safe_dump(settings))


@pytest.fixture
def site(store, db_spec, tmp_path):
    site = AdminSite.make(store, db_spec, tmp_path)
    yield site
    site.close()


def rebuild(site: AdminSite, **admin) -> AdminSite:
    """The site's app built again, so that it reads its files as they are now (`admin` sets
    admin.yaml keys); the users stay."""
    site.close()
    if admin:
        settings = yaml.safe_load((site.directory / "admin.yaml").read_text())
        settings.update(admin)
        (site.directory / "admin.yaml").write_text(yaml.safe_dump(settings))
    site.app = create_app({"JOBU_CONFIG_DIR": site.directory, "TESTING": True})
    site.clients = {}
    return site


@pytest.fixture
def fixable(site):
    """An admin whose queue.yaml enables jobu-queued, with a topic that refuses `sleep`."""
    write_queue_yaml(site.directory)
    return rebuild(site)


def dead_letter(store, raw: bytes, *, offset: int, topic: str = TOPIC,
                key: bytes | None = None, headers=()) -> int:
    """Keep `raw` as jobu-queued would (reason from the strict topic); its id."""
    record = Record(topic=topic, partition=0, offset=offset, value=raw, key=key,
                    headers=tuple(headers))
    decision = to_execution(record, TopicConfig(allowed_handlers=("noop",)), 1_000_000)
    assert isinstance(decision, Rejected), decision
    store.queue_commit_batch("jobu", [], [], [NewDeadLetter(
        topic, 0, offset, key, tuple(headers), raw, decision.reason)])
    return max(letter.id for letter in store.dead_letter_list(limit=1000))


def message(**body) -> bytes:
    return json.dumps(body).encode()


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def executions(store) -> list:
    return store.execution_list(ExecutionFilter(), limit=1000).items


# --- pages ---------------------------------------------------------------------------------


def test_the_list_and_a_letter_show_the_message_its_bytes_and_the_reason(site, store):
    refused = dead_letter(store, message(handler_name="sleep", params={"n": 1}), offset=3,
                          key=b"order-42", headers=[("trace", b"\x00\x01"), ("origin", b"shop")])
    binary = dead_letter(store, b"\xff\xfe\x00binary", offset=4)
    other = dead_letter(store, b"[1, 2]", offset=0, topic="payments")
    viewer = site.client(Role.VIEWER)

    page = viewer.get("/dead-letters")
    assert page.status_code == 200
    text = text_of(page)
    assert '<a href="/dead-letters" class="here">Dead letters</a>' in text  # letters exist
    assert text.index(f"#{other}") < text.index(f"#{binary}") < text.index(f"#{refused}")
    assert f"{TOPIC} / 0 / 3" in text and "order-42" in text
    assert "which topic 'orders' does not allow" in text

    only = text_of(viewer.get("/dead-letters?topic=payments"))
    assert f"#{other}" in only and f"#{refused}" not in only
    assert "No dead letter of topic nothing" in text_of(viewer.get("/dead-letters?topic=nothing"))
    assert viewer.get("/dead-letters?limit=x").status_code == 400

    shown = text_of(viewer.get(f"/dead-letters/{refused}"))
    assert '{"handler_name": "sleep", "params": {"n": 1}}' in shown
    assert "order-42" in shown and "hex: 00 01" in shown and "shop" in shown
    assert "add it to the topic's allowed_handlers" in shown
    assert "Replay" not in shown.split("<main>")[1]  # a viewer has no actions

    raw = text_of(viewer.get(f"/dead-letters/{binary}"))
    assert "Not UTF-8 text" in raw and "ff fe 00 62 69 6e 61 72 79" in raw
    assert "//4AYmluYXJ5" in raw  # base64 too
    assert viewer.get("/dead-letters/999999").status_code == 404


def test_the_list_pages_by_a_growing_limit(site, store):
    ids = [dead_letter(store, b"not json", offset=offset) for offset in range(5)]
    page = text_of(site.client(Role.VIEWER).get("/dead-letters?limit=2"))
    assert f"#{ids[4]}" in page and f"#{ids[3]}" in page and f"#{ids[2]}<" not in page
    assert "Showing the newest 2." in page and "limit=4" in page
    assert f"#{ids[0]}" in text_of(site.client(Role.VIEWER).get("/dead-letters?limit=5"))


def test_empty_list_says_what_makes_dead_letters_and_the_menu_hides_the_page(site):
    page = text_of(site.client(Role.VIEWER).get("/dead-letters"))
    assert "No dead letter." in page and "docs/queued.md" in page
    assert "not enabled in queue.yaml" in page
    assert 'href="/dead-letters"' not in text_of(site.client(Role.VIEWER).get("/jobs"))


def test_the_menu_shows_dead_letters_when_queue_yaml_enables_queued(fixable):
    page = text_of(fixable.client(Role.VIEWER).get("/jobs"))
    assert ">Dead letters</a>" in page
    assert "not enabled" not in text_of(fixable.client(Role.VIEWER).get("/dead-letters"))


def test_replay_still_refused_keeps_the_letter_then_works_once_queue_yaml_is_fixed(
        fixable, store):
    letter = dead_letter(store, message(handler_name="sleep", params={"n": 1}), offset=7,
                         key=b"k")
    refused = fixable.post(Role.OPERATOR, f"/dead-letters/{letter}/replay",
                           follow_redirects=True)
    assert refused.status_code == 200
    text = text_of(refused)
    assert "still cannot become an execution" in text and "does not allow" in text
    assert "The dead letter is kept." in text
    assert store.dead_letter_get(letter).id == letter and executions(store) == []

    write_queue_yaml(fixable.directory, topic=FIXED)  # the operator fixes queue.yaml
    replayed = fixable.post(Role.OPERATOR, f"/dead-letters/{letter}/replay")
    [execution] = executions(store)
    assert replayed.status_code == 302
    assert replayed.headers["Location"] == f"/jobs/{execution.id}"
    assert (execution.handler_name, execution.params) == ("sleep", {"n": 1})
    assert execution.param_source == ParamSource.EVENT
    assert execution.dedupe_key == f"{TOPIC}/0/7"
    assert store.dead_letter_list() == []
    flashed = text_of(fixable.client(Role.OPERATOR).get(replayed.headers["Location"]))
    assert f"Dead letter {letter} is now job {execution.id}." in flashed
    again = fixable.post(Role.OPERATOR, f"/dead-letters/{letter}/replay")
    assert again.status_code == 404 and len(executions(store)) == 1


def test_replay_of_a_message_that_is_not_json_keeps_it_with_the_reason(site, store):
    letter = dead_letter(store, b"not json", offset=1)
    page = site.post(Role.OPERATOR, f"/dead-letters/{letter}/replay", follow_redirects=True)
    assert "topic 'orders' is not in queue.yaml topics" in text_of(page)
    # the reason is the one queue.yaml gives now, and it is kept on the letter
    assert "is not in queue.yaml topics" in store.dead_letter_get(letter).reason
    assert executions(store) == []


def test_discard_asks_first_then_deletes(site, store):
    letter = dead_letter(store, b"not json", offset=1)
    operator = site.client(Role.OPERATOR)
    detail = text_of(operator.get(f"/dead-letters/{letter}"))
    assert f'href="/dead-letters/{letter}/discard"' in detail and ">Replay<" in detail
    confirm = operator.get(f"/dead-letters/{letter}/discard")
    assert confirm.status_code == 200
    assert f"Discard dead letter #{letter}?" in text_of(confirm)
    assert store.dead_letter_get(letter).id == letter  # asking deletes nothing
    done = site.post(Role.OPERATOR, f"/dead-letters/{letter}/discard", follow_redirects=True)
    assert f"Dead letter {letter} discarded" in text_of(done)
    assert store.dead_letter_list() == [] and executions(store) == []


def test_a_viewer_may_read_but_not_replay_or_discard(site, store):
    letter = dead_letter(store, b"not json", offset=1)
    for url in (f"/dead-letters/{letter}/replay", f"/dead-letters/{letter}/discard"):
        assert site.post(Role.VIEWER, url).status_code == 403
    assert site.client(Role.VIEWER).get(f"/dead-letters/{letter}/discard").status_code == 403
    assert store.dead_letter_get(letter).id == letter


def test_read_only_refuses_replay_and_discard_to_everyone(site, store):
    rebuild(site, read_only=True)
    letter = dead_letter(store, b"not json", offset=1)
    for role in Role:
        for url in (f"/dead-letters/{letter}/replay", f"/dead-letters/{letter}/discard"):
            response = site.post(role, url)
            assert response.status_code == 403 and 'data-code="read_only"' in text_of(response)
    page = text_of(site.client(Role.ADMIN).get(f"/dead-letters/{letter}"))
    assert ">Replay<" not in page and "/discard" not in page
    assert store.dead_letter_get(letter).id == letter


# --- the API -------------------------------------------------------------------------------


def api_of(site, store, role: Role = Role.OPERATOR):
    token = issue_api_token(store, role.value)
    client = site.app.test_client()

    def call(method: str, url: str):
        return client.open(f"/api/v1{url}", method=method,
                           headers={"Authorization": f"Bearer {token}"})
    return call


def error_of(response) -> dict:
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, body
    return body["error"]


def test_api_lists_and_shows_dead_letters(site, store):
    api = api_of(site, store, Role.VIEWER)
    first = dead_letter(store, b"\xff\xfe", offset=1, key=b"k1", headers=[("trace", b"\x00")])
    second = dead_letter(store, message(handler_name="sleep"), offset=2)

    listed = api("GET", "/dead-letters").get_json()
    assert [item["id"] for item in listed["items"]] == [second, first]
    assert listed["more"] is False
    item = listed["items"][1]
    assert {"message", "message_text"}.isdisjoint(item)
    assert (item["topic"], item["partition"], item["offset"]) == (TOPIC, 0, 1)
    assert (item["key"], item["key_text"], item["headers"]) == ("azE=", "k1", [["trace", "AA=="]])
    assert item["size"] == 2 and "not valid JSON" in item["reason"] and item["received_at"]

    paged = api("GET", "/dead-letters?limit=1").get_json()
    assert [item["id"] for item in paged["items"]] == [second] and paged["more"] is True
    assert api("GET", "/dead-letters?topic=other").get_json() == {"items": [], "more": False}
    assert error_of(api("GET", "/dead-letters?limit=0"))["field"] == "limit"

    shown = api("GET", f"/dead-letters/{first}").get_json()
    assert (shown["message"], shown["message_text"]) == ("//4=", None)
    text = api("GET", f"/dead-letters/{second}").get_json()
    assert text["message_text"] == '{"handler_name": "sleep"}'
    missing = api("GET", "/dead-letters/999999")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"


def test_api_replays_409_while_refused_then_200_and_discards_204(fixable, store):
    api = api_of(fixable, store)
    letter = dead_letter(store, message(handler_name="sleep"), offset=5)
    refused = api("POST", f"/dead-letters/{letter}/replay")
    assert refused.status_code == 409
    error = error_of(refused)
    assert error["code"] == "invalid_state" and "does not allow" in error["message"]
    assert store.dead_letter_get(letter).id == letter and executions(store) == []

    write_queue_yaml(fixable.directory, topic=FIXED)
    replayed = api("POST", f"/dead-letters/{letter}/replay")
    assert replayed.status_code == 200
    [execution] = executions(store)
    assert replayed.get_json() == {"dead_letter_id": letter, "execution_id": execution.id}
    assert error_of(api("POST", f"/dead-letters/{letter}/replay"))["code"] == "not_found"

    other = dead_letter(store, b"not json", offset=6)
    assert api("DELETE", f"/dead-letters/{other}").status_code == 204
    assert store.dead_letter_list() == []
    gone = api("DELETE", f"/dead-letters/{other}")
    assert gone.status_code == 404 and error_of(gone)["code"] == "not_found"


def test_api_refuses_a_viewer_and_read_only(site, store):
    letter = dead_letter(store, b"not json", offset=1)
    viewer = api_of(site, store, Role.VIEWER)
    for method, url in (("POST", f"/dead-letters/{letter}/replay"),
                        ("DELETE", f"/dead-letters/{letter}")):
        response = viewer(method, url)
        assert response.status_code == 403 and error_of(response)["code"] == "forbidden"
    admin = api_of(rebuild(site, read_only=True), store, Role.ADMIN)
    for method, url in (("POST", f"/dead-letters/{letter}/replay"),
                        ("DELETE", f"/dead-letters/{letter}")):
        response = admin(method, url)
        assert response.status_code == 403 and error_of(response)["code"] == "read_only"
    assert store.dead_letter_get(letter).id == letter
