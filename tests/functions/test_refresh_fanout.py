"""The scheduled refresh fanned out: the tick's chunks reach token_refresh_worker through the Pub/Sub
emulator's push subscription, run side by side on the host, and add up across their own chunk
documents (no chunk writes the run's document, which a large run would make hot); a chunk
delivered twice, or after an attempt that died half way, makes one provider call per connection."""

import concurrent.futures
import datetime
import json
import uuid

from common.platform.clients import firestore_client
from common.platform.settings import reset_settings
from common.platform.timeutil import utcnow
from common.stores import refresh_runs
from common.tokens.reader import get_access_token
from common.tokens.refresh_job import start_run
from local.bench_refresh import make_due, run_refresh, seed_connections
from local.load.payloads import push_delivery
from tests.helpers import wait_for

WORKER = "token_refresh_worker"
TOKEN_CALL = "slack.oauth.v2.access"


def _push(api, payload: dict) -> int:
    """One delivery of a chunk, as the push subscription makes it; the status is Pub/Sub's ack or nack."""
    body = push_delivery(WORKER, payload)
    return api.post(f"/_pubsub/{WORKER}", data=body, headers={"Content-Type": "application/json"}).status_code


def _chunk(sandbox, count: int) -> dict:
    """A run of one chunk of `count` due Slack connections, recorded as the tick records it."""
    uids = seed_connections(sandbox.base_url, "slack", count, f"u{uuid.uuid4().hex[:6]}", due=True)
    run_id = uuid.uuid4().hex
    refresh_runs.start(run_id, count, 1, True)
    sandbox.delete("/_sandbox/calls")
    return {"runId": run_id, "chunk": 0, "chunks": 1, "connections": [[uid, "slack"] for uid in uids]}


def _refreshes_per_connection(sandbox) -> list[int]:
    return sorted(set(sandbox.get("/_sandbox/refreshes").json().values()))


def test_a_run_of_250_due_adds_up_across_chunks_of_100(stack, sandbox):
    seed_connections(sandbox.base_url, "slack", 250, "due", due=True)
    seed_connections(sandbox.base_url, "slack", 20, "idle", due=False)
    sandbox.delete("/_sandbox/calls")
    run = run_refresh()
    assert run == {
        "runId": run["runId"],
        "due": 250,
        "chunks": 3,
        "chunksDone": 3,
        "complete": True,
        "refreshed": 250,
        "failed": 0,
        "needs_reauth": 0,
        "skipped": 0,
    }
    assert sandbox.get("/_sandbox/calls").json() == {TOKEN_CALL: 250}
    assert len(sandbox.get("/_sandbox/refreshes").json()) == 250 and _refreshes_per_connection(sandbox) == [1]
    chunks = firestore_client().collection("refresh_runs").document(run["runId"]).collection("chunks").stream()
    assert sorted(chunk.to_dict()["refreshed"] for chunk in chunks) == [50, 100, 100]

    def summary():
        lines = (stack.log_dir / "host.log").read_text(errors="replace").splitlines()
        entries = [json.loads(line) for line in lines if line.startswith("{") and run["runId"] in line]
        return [e for e in entries if e["message"] == refresh_runs.FINISHED]

    logged = wait_for(summary)
    assert len(logged) == 1 and (logged[0]["due"], logged[0]["refreshed"], logged[0]["chunksDone"]) == (250, 250, 3)


def test_a_chunk_delivered_twice_at_once_and_again_refreshes_each_connection_once(api, sandbox):
    sandbox.patch("/_sandbox/config", json={"token_latency_ms": 100}).raise_for_status()  # the deliveries overlap
    chunk = _chunk(sandbox, 20)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        assert list(pool.map(lambda _: _push(api, chunk), range(2))) == [200, 200]
    run = refresh_runs.totals(chunk["runId"])
    assert sandbox.get("/_sandbox/calls").json() == {TOKEN_CALL: 20} and _refreshes_per_connection(sandbox) == [1]
    assert run["chunksDone"] == 1 and run["failed"] == 0 and run["refreshed"] + run["skipped"] == 20
    assert _push(api, chunk) == 200  # a redelivery after both finished: nothing is due, nothing is added
    assert sandbox.get("/_sandbox/calls").json() == {TOKEN_CALL: 20}
    assert refresh_runs.totals(chunk["runId"]) == run


def test_a_chunk_redelivered_after_an_attempt_died_half_way_finishes_the_rest(api, sandbox):
    """What a crashed attempt leaves: some connections refreshed, nothing recorded. The redelivery
    refreshes the others and records the chunk."""
    chunk = _chunk(sandbox, 10)
    done_before = [uid for uid, _ in chunk["connections"][:4]]
    make_due(done_before, "slack")  # expired too, so a read refreshes them
    for uid in done_before:
        get_access_token(uid, "slack")
    assert _push(api, chunk) == 200
    assert sandbox.get("/_sandbox/calls").json() == {TOKEN_CALL: 10} and _refreshes_per_connection(sandbox) == [1]
    run = refresh_runs.totals(chunk["runId"])
    assert (run["chunksDone"], run["refreshed"], run["skipped"]) == (1, 6, 4)


def test_the_chunks_of_a_run_are_refreshed_at_once(stack, sandbox, monkeypatch):
    """The first chunk's provider call is held; the second chunk's call still arrives."""
    seed_connections(sandbox.base_url, "slack", 2, "pair", due=True)
    sandbox.delete("/_sandbox/calls")
    hold = uuid.uuid4().hex
    sandbox.post("/_sandbox/faults", json={"endpoint": TOKEN_CALL, "hold": hold}).raise_for_status()
    monkeypatch.setenv("REFRESH_JOB_CHUNK_SIZE", "1")
    reset_settings()
    try:
        run_id = start_run()["runId"]
        assert sandbox.post(f"/_sandbox/holds/{hold}/wait").status_code == 204
        both = wait_for(lambda: sandbox.get("/_sandbox/calls").json().get(TOKEN_CALL) == 2)
    finally:
        sandbox.post(f"/_sandbox/holds/{hold}/release").raise_for_status()
        monkeypatch.undo()
        reset_settings()
    assert both
    run = wait_for(lambda: refresh_runs.finished(totals := refresh_runs.totals(run_id)) and totals)
    assert (run["chunks"], run["refreshed"]) == (2, 2)


def test_a_malformed_chunk_is_acknowledged_and_changes_nothing(api, sandbox):
    good = _chunk(sandbox, 1)
    for bad in (
        {**good, "runId": "a/b"},
        {**good, "chunk": "0"},
        {**good, "connections": "everyone"},
        {**good, "connections": [["alice", "drop/box"]]},
        {**good, "connections": [["../x", "slack"]]},
        {"runId": good["runId"]},
    ):
        assert _push(api, bad) == 200, bad  # refused for good: acknowledged, not redelivered
    assert sandbox.get("/_sandbox/calls").json() == {}
    assert refresh_runs.totals(good["runId"])["chunksDone"] == 0


def _stored_connection_of_a_service_not_offered(uid: str) -> None:
    """What a deployment keeps after a service leaves it (its client id unset, or gone from the
    catalogue): a due connection no client can refresh."""
    firestore_client().collection("users").document(uid).collection("connections").document("dropbox").set(
        {"uid": uid, "service": "dropbox", "status": "active", "refreshDueAt": utcnow() - datetime.timedelta(hours=1)}
    )


def test_a_connection_of_a_service_not_offered_is_skipped_not_its_chunk(api, sandbox):
    chunk = _chunk(sandbox, 3)
    _stored_connection_of_a_service_not_offered("gone-user")
    chunk["connections"].insert(1, ["gone-user", "dropbox"])
    assert _push(api, chunk) == 200
    run = refresh_runs.totals(chunk["runId"])
    assert (run["chunksDone"], run["refreshed"], run["skipped"], run["failed"]) == (1, 3, 1, 0)
    assert sandbox.get("/_sandbox/calls").json() == {TOKEN_CALL: 3}


def test_the_tick_hands_out_only_the_services_offered_here(stack, sandbox):
    seed_connections(sandbox.base_url, "slack", 2, f"t{uuid.uuid4().hex[:6]}", due=True)
    _stored_connection_of_a_service_not_offered(f"gone-{uuid.uuid4().hex[:6]}")
    run = run_refresh()
    assert (run["due"], run["refreshed"], run["failed"]) == (2, 2, 0)


def test_a_chunk_that_fails_is_redelivered_until_it_is_done(stack, sandbox):
    """An unexpected error (here a cooldown written as text) fails the delivery: the worker answers
    500, the emulator delivers the chunk again, and once the field is mended the chunk completes,
    each connection refreshed once and the chunk counted once."""
    uids = seed_connections(sandbox.base_url, "slack", 3, f"r{uuid.uuid4().hex[:6]}", due=True)
    broken = firestore_client().collection("users").document(uids[0]).collection("connections").document("slack")
    broken.update({"cooldownUntil": "soon"})
    sandbox.delete("/_sandbox/calls")
    host_log = stack.log_dir / "host.log"
    logged_before = len(host_log.read_text(errors="replace").splitlines())
    run_id = start_run()["runId"]
    assert wait_for(lambda: sandbox.get("/_sandbox/calls").json().get(TOKEN_CALL) == 2)

    def failed_deliveries():
        lines = host_log.read_text(errors="replace").splitlines()[logged_before:]
        return [line for line in lines if "unexpected failure; message will be redelivered" in line and WORKER in line]

    assert wait_for(lambda: len(failed_deliveries()) >= 2)  # delivered again, and failing again
    assert refresh_runs.totals(run_id)["chunksDone"] == 0
    broken.update({"cooldownUntil": None})
    run = wait_for(lambda: refresh_runs.finished(totals := refresh_runs.totals(run_id)) and totals, timeout=30)
    assert (run["chunksDone"], run["refreshed"], run["skipped"], run["failed"]) == (1, 1, 2, 0)
    assert sandbox.get("/_sandbox/calls").json() == {TOKEN_CALL: 3} and _refreshes_per_connection(sandbox) == [1]


def test_a_chunk_writes_its_own_document_never_the_runs(api, sandbox):
    """A document takes about one write a second: the run's totals are summed from its chunks'
    documents, so the run document is written at its start and once at its end, however many chunks."""
    chunk = {**_chunk(sandbox, 3), "chunks": 2}
    run_ref = firestore_client().collection("refresh_runs").document(chunk["runId"])
    run_ref.update({"chunks": 2})
    written = run_ref.get().update_time
    assert _push(api, chunk) == 200
    assert run_ref.get().update_time == written  # one chunk of two recorded: the run document untouched
    assert refresh_runs.totals(chunk["runId"])["chunksDone"] == 1
    assert _push(api, {**chunk, "chunk": 1, "connections": []}) == 200
    run = refresh_runs.totals(chunk["runId"])
    assert (run["chunksDone"], run["refreshed"], run["skipped"]) == (2, 3, 0)
    assert run_ref.get().update_time > written  # the last chunk claimed the summary


def test_only_one_of_the_last_chunks_logs_the_summary(sandbox):
    """The last two chunks can record at the same moment and both see the run complete."""
    chunk = _chunk(sandbox, 1)
    assert [refresh_runs.claim_summary(chunk["runId"]) for _ in range(2)] == [True, False]


def _lease_ref(uid: str):
    return firestore_client().collection("token_leases").document(f"slack:{uid}")


def test_a_chunk_leaves_a_connection_a_reader_is_refreshing_to_it(api, sandbox):
    """The chunk takes its leases together; one a reader holds, mid-refresh, is not taken: the
    rotating refresh token is spent once, by the reader, and the chunk counts it skipped."""
    chunk = _chunk(sandbox, 3)
    reader_uid = chunk["connections"][0][0]
    make_due([reader_uid], "slack")  # expired too, so the reader refreshes it
    hold = uuid.uuid4().hex
    sandbox.post("/_sandbox/faults", json={"endpoint": TOKEN_CALL, "hold": hold}).raise_for_status()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        reading = pool.submit(get_access_token, reader_uid, "slack")
        try:
            assert sandbox.post(f"/_sandbox/holds/{hold}/wait").status_code == 204  # the reader holds the lease
            assert _push(api, chunk) == 200
        finally:
            sandbox.post(f"/_sandbox/holds/{hold}/release").raise_for_status()
        token = reading.result(timeout=30)
    run = refresh_runs.totals(chunk["runId"])
    assert (run["refreshed"], run["skipped"], run["failed"]) == (2, 1, 0)
    assert sandbox.get("/_sandbox/calls").json() == {TOKEN_CALL: 3} and _refreshes_per_connection(sandbox) == [1]
    assert get_access_token(reader_uid, "slack") == token


def test_a_reader_waits_for_the_chunk_that_holds_its_lease(api, sandbox):
    """The other way round: the chunk's refresh is at the provider when a reader needs the expired
    token; the reader waits on the same lease and gets the chunk's token, one provider call."""
    chunk = _chunk(sandbox, 1)
    uid = chunk["connections"][0][0]
    make_due([uid], "slack")  # expired too, so the reader must refresh or wait
    hold = uuid.uuid4().hex
    sandbox.post("/_sandbox/faults", json={"endpoint": TOKEN_CALL, "hold": hold}).raise_for_status()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        pushed = pool.submit(_push, api, chunk)
        try:
            assert sandbox.post(f"/_sandbox/holds/{hold}/wait").status_code == 204  # the chunk holds the lease
            assert _lease_ref(uid).get().exists
            reading = pool.submit(get_access_token, uid, "slack")
        finally:
            sandbox.post(f"/_sandbox/holds/{hold}/release").raise_for_status()
        assert pushed.result(timeout=30) == 200
        token = reading.result(timeout=30)
    assert sandbox.get("/_sandbox/calls").json() == {TOKEN_CALL: 1}
    assert refresh_runs.totals(chunk["runId"])["refreshed"] == 1
    assert get_access_token(uid, "slack") == token and not _lease_ref(uid).get().exists


def test_a_chunk_takes_over_an_expired_lease_and_leaves_a_live_one(api, sandbox):
    """What crashed attempts leave: an expired lease is taken over (refreshed), a live one is left to
    its holder (skipped, still due for the next tick)."""
    chunk = _chunk(sandbox, 3)
    (expired_uid, _), (live_uid, _) = chunk["connections"][:2]
    now = utcnow()
    _lease_ref(expired_uid).set({"owner": "crashed", "expiresAt": now - datetime.timedelta(seconds=1)})
    _lease_ref(live_uid).set({"owner": "busy", "expiresAt": now + datetime.timedelta(minutes=5)})
    assert _push(api, chunk) == 200
    run = refresh_runs.totals(chunk["runId"])
    assert (run["refreshed"], run["skipped"], run["failed"]) == (2, 1, 0)
    refreshed = set(sandbox.get("/_sandbox/refreshes").json())
    assert sandbox.get("/_sandbox/calls").json() == {TOKEN_CALL: 2} and len(refreshed) == 2
    assert not _lease_ref(expired_uid).get().exists and _lease_ref(live_uid).get().to_dict()["owner"] == "busy"


def test_a_chunk_whose_read_fails_gives_its_leases_back(sandbox, monkeypatch):
    """Firestore failing between the leases and the read: the chunk raises (redelivered) and leaves
    no lease behind, so its redelivery refreshes every connection instead of skipping them."""
    from google.api_core.exceptions import ServiceUnavailable

    from common.tokens import refresh_chunk as chunk_module

    chunk = _chunk(sandbox, 3)

    class Unreachable:
        def get_all(self, refs):
            raise ServiceUnavailable("firestore unreachable")

    monkeypatch.setattr(chunk_module, "firestore_client", Unreachable)
    try:
        chunk_module.refresh_chunk(chunk)
        raised = False
    except ServiceUnavailable:
        raised = True
    monkeypatch.undo()
    assert raised and not any(_lease_ref(uid).get().exists for uid, _ in chunk["connections"])
    chunk_module.refresh_chunk(chunk)
    assert refresh_runs.totals(chunk["runId"])["refreshed"] == 3
    assert sandbox.get("/_sandbox/calls").json() == {TOKEN_CALL: 3}


def test_a_chunk_refresh_left_too_little_of_its_lease_does_not_start(sandbox, monkeypatch):
    """A refresh must not start on a lease too close to its end: once it lapses a reader may take it
    over and spend the rotating refresh token the chunk read. Forced: one connection at a time, and
    between the second connection's lease and its refresh a reader needs that connection's expired
    token, waits for the lease to lapse, takes it over and refreshes."""
    from common.tokens import refresh_chunk as chunk_module

    monkeypatch.setenv("TOKEN_LEASE_SECONDS", "6")
    monkeypatch.setenv("PROVIDER_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("REFRESH_JOB_CONCURRENCY", "1")
    reset_settings()
    chunk = _chunk(sandbox, 2)
    second = chunk["connections"][1][0]
    make_due([second], "slack")  # expired too, so the reader refreshes it
    real_refresh_leased = chunk_module.refresh_leased

    def reader_first(uid, lease, snapshot, *, still_needed):
        if uid == second:
            get_access_token(second, "slack")  # waits out the chunk's lease, takes it over, rotates the token
        return real_refresh_leased(uid, lease, snapshot, still_needed=still_needed)

    monkeypatch.setattr(chunk_module, "refresh_leased", reader_first)
    try:
        chunk_module.refresh_chunk(chunk)
    finally:
        monkeypatch.undo()
        reset_settings()
    assert sandbox.get("/_sandbox/calls").json() == {TOKEN_CALL: 2}  # the first by the chunk, the second by the reader
    assert len(sandbox.get("/_sandbox/refreshes").json()) == 2 and _refreshes_per_connection(sandbox) == [1]
    run = refresh_runs.totals(chunk["runId"])
    assert (run["refreshed"], run["skipped"], run["failed"]) == (1, 1, 0)


def test_a_lease_create_retried_after_it_landed_is_still_its_takers():
    """A create whose reply was lost and that was sent again meets its own lease: it is taken (by
    the same owner), not left to expire as another holder's."""
    from common.stores import leases

    uid = f"own-{uuid.uuid4().hex[:6]}"
    first = leases.try_take(uid, "slack", "owner-a", 60)
    assert first is not None
    assert leases.try_take(uid, "slack", "owner-a", 60) == first
    assert leases.try_take(uid, "slack", "owner-b", 60) is None
    leases.release(uid, "slack", first)
    assert not _lease_ref(uid).get().exists
