"""The whole key-rotation cycle: add a key and make it active (old ciphertexts still read), re-encrypt
everything (resumable, idempotent), drop the old key, and everything still decrypts; and the same
two-phase rotation across running instances that each keep their own key ring."""

import base64
import concurrent.futures
import datetime
import json
import os
import sys
import threading
import uuid

import pytest
import requests

from common.oauth.oauth_protocol import state_key
from common.platform.clients import firestore_client
from common.platform.errors import CryptoError, UnknownKeyId
from common.platform.settings import DEV_KEY, DEV_KEY_ID, get_settings, reset_settings
from common.stores import connections
from common.tokens import refresher
from common.tokens.crypto import KeyRing, TokenCipher, get_cipher, reset_cipher
from common.tokens.reader import get_access_token
from common.tokens.reencrypt import run_reencryption
from common.tokens.token_fields import token_field, verifier_field
from local.catalog import ROOT, load_catalog
from local.consent_browser import callback_url
from local.load.payloads import push_delivery
from local.processes import Child, free_port, wait_until
from tests.conftest import reset_process_state
from tests.functions.test_oauth_flow import connect, start
from tests.helpers import user_docs
from tests.oauth_helpers import landed

NEW_KEY = base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def use_ring(monkeypatch, stack):
    def use(keys: dict, active: str) -> None:
        monkeypatch.setenv("TOKEN_KEY_RING", json.dumps({"active": active, "keys": keys}))
        reset_settings()
        reset_cipher()

    yield use
    monkeypatch.undo()
    reset_settings()
    reset_cipher()


def _doc(uid: str):
    return firestore_client().collection("users").document(uid).collection("connections").document("slack")


def _ciphertexts() -> list[str]:
    values = []
    for doc in firestore_client().collection_group("connections").stream():
        values += [v for k, v in doc.to_dict().items() if k in ("accessToken", "refreshToken") and v]
    for doc in firestore_client().collection("oauth_states").stream():
        values.append(doc.get("codeVerifier"))
    return values


def test_rotation_cycle(user, use_ring):
    connect(user("alice"), "slack", team_id="T0ACME", team_name="Acme", user_id="U0ALICE")
    connect(user("bob"), "gmail", email="bob@example.com")
    pending = start(user("carol"), "calendar")
    old_tokens = {("alice", "slack"): get_access_token("alice", "slack"), ("bob", "gmail"): get_access_token("bob", "gmail")}
    assert {value.split(".")[1] for value in _ciphertexts()} == {DEV_KEY_ID}

    use_ring({DEV_KEY_ID: DEV_KEY, "k2": NEW_KEY}, "k2")
    assert {key: get_access_token(*key) for key in old_tokens} == old_tokens  # old ciphertexts still readable

    runs = [run_reencryption(restart=True, batch_size=1, budget_seconds=0)]
    while not runs[-1]["done"]:
        runs.append(run_reencryption(restart=False, batch_size=1, budget_seconds=0))
    assert len(runs) >= 3  # it stopped and resumed from its cursor
    assert (runs[-1]["scanned"], runs[-1]["rewritten"], runs[-1]["failed"]) == (3, 5, 0)
    assert {value.split(".")[1] for value in _ciphertexts()} == {"k2"}

    again = run_reencryption(restart=True, batch_size=10, budget_seconds=60)
    assert again["done"] and again["rewritten"] == 0  # idempotent

    use_ring({"k2": NEW_KEY}, "k2")
    assert {key: get_access_token(*key) for key in old_tokens} == old_tokens
    key = state_key(pending["state"])
    verifier = firestore_client().collection("oauth_states").document(key).get().get("codeVerifier")
    assert len(get_cipher().decrypt(verifier, "carol", verifier_field(key))) >= 43


@pytest.mark.parametrize("phase", ["connections", "oauth_states"])
def test_a_cursor_whose_document_is_gone_resumes_after_its_path(user, use_ring, phase):
    """The cursor names the last document rewritten; a disconnect (or a consumed state) may delete it
    between two runs, and the next run must go on after its path, not stop on the missing document."""
    connect(user("alice"), "slack", team_id="T0ACME", team_name="Acme", user_id="U0ALICE")
    connect(user("bob"), "gmail", email="bob@example.com")
    start(user("carol"), "calendar")
    start(user("dave"), "gmail")
    use_ring({DEV_KEY_ID: DEV_KEY, "k2": NEW_KEY}, "k2")

    progress = run_reencryption(restart=True, batch_size=1, budget_seconds=0)
    while progress["cursor"] is None or not progress["cursor"].startswith("oauth_states" if phase == "oauth_states" else "users"):
        progress = run_reencryption(restart=False, batch_size=1, budget_seconds=0)
    firestore_client().document(progress["cursor"]).delete()

    while not progress["done"]:
        progress = run_reencryption(restart=False, batch_size=1, budget_seconds=0)
    assert (progress["scanned"], progress["failed"]) == (4, 0)
    assert {value.split(".")[1] for value in _ciphertexts()} == {"k2"}


def test_a_value_no_key_can_read_is_counted_not_fatal(user, use_ring):
    connect(user("alice"), "gmail", email="alice@example.com")
    use_ring({"k3": NEW_KEY}, "k3")  # the dev key is gone before re-encryption: fail closed, report it
    progress = run_reencryption(restart=True, batch_size=10, budget_seconds=60)
    assert progress["done"] and progress["failed"] == 1 and progress["rewritten"] == 0


def test_a_second_run_while_one_holds_the_lease_is_busy(user, use_ring):
    from common.stores import leases

    taken_at = leases.try_take("maintenance", "reencrypt", "other-run", 60)
    try:
        assert run_reencryption(restart=True, batch_size=10, budget_seconds=60) == {"done": False, "busy": True}
    finally:
        leases.release("maintenance", "reencrypt", taken_at)
    assert run_reencryption(restart=True, batch_size=10, budget_seconds=60)["done"] is True


# Two-phase rotation across running instances: function hosts of their own that read TOKEN_KEY_RING
# from the sandbox's Secret Manager (versions/latest, as deployed), while the test adds versions.
INSTANCE_FUNCTIONS = ("health", "oauth_start", "oauth_callback", "gmail_notifications_worker", "reencrypt_tokens")
# One re-read per instance for the whole test: every re-read the counts show is one the code asked for.
INSTANCE_ENV = {"TOKEN_KEY_RING_RELOAD_SECONDS": "3600", "TOKEN_KEY_RING_MAX_AGE_SECONDS": "86400"}


class RingSecret:
    """A key ring secret of this test in the sandbox's Secret Manager, read as deployed (versions/latest)."""

    def __init__(self, stack, sandbox):
        self.sandbox, self.project = sandbox, stack.emulators.project
        self.secret, self.versions = f"token-key-ring-{uuid.uuid4().hex[:8]}", 0
        self.name = f"projects/{self.project}/secrets/{self.secret}/versions/latest"

    def publish(self, keys: dict, active: str) -> None:
        """`gcloud secrets versions add`: the ring's next version becomes `latest`."""
        self.versions += 1
        ring = json.dumps({"active": active, "keys": keys})
        self.sandbox.put(f"/_sandbox/secrets/{self.project}/{self.secret}/{self.versions}", data=ring).raise_for_status()

    def reads(self) -> int:
        """Secret Manager reads so far (this test's only secret reference is the ring)."""
        return self.sandbox.get("/_sandbox/calls").json().get("secretmanager.access", 0)


@pytest.fixture
def ring_secret(monkeypatch, stack, sandbox):
    """This process reads its key ring from a RingSecret, as a deployed instance does."""
    secret = RingSecret(stack, sandbox)
    monkeypatch.setenv("TOKEN_KEY_RING", secret.name)
    reset_process_state()
    yield secret
    monkeypatch.undo()
    reset_process_state()


def _forged(value: str, key_id: str) -> str:
    return ".".join([value.split(".")[0], key_id, *value.split(".")[2:]])


def test_unknown_key_ids_read_secret_manager_at_most_once_per_interval(ring_secret, sandbox, moved_clock):
    k1, k2 = os.urandom(32), os.urandom(32)
    ring_secret.publish({"k1": base64.b64encode(k1).decode()}, "k1")
    value = get_cipher().encrypt("xoxp-token", "alice", "access_token")
    assert ring_secret.reads() == 1
    for n in range(50):  # values under made-up key ids: refused, retryable, one read of the ring
        with pytest.raises(UnknownKeyId):
            get_cipher().decrypt(_forged(value, f"forged-{n}"), "alice", "access_token")
    for tampered in (value[:-3] + "AAA", _forged(get_cipher().encrypt("x", "bob", "access_token"), "k1")):
        with pytest.raises(CryptoError) as error:
            get_cipher().decrypt(tampered, "alice", "access_token")
        assert error.value.code == "decryption_failed" and not error.value.retryable
    assert ring_secret.reads() == 2

    interval = get_settings().token_key_ring_reload_seconds
    ring_secret.publish({"k1": base64.b64encode(k1).decode(), "k2": base64.b64encode(k2).decode()}, "k2")
    written = TokenCipher(KeyRing({"k1": k1, "k2": k2}, "k2")).encrypt("xoxp-new", "alice", "access_token")
    sandbox.post("/_sandbox/faults", json={"endpoint": "secretmanager.access", "status": 500}).raise_for_status()
    moved_clock(interval)
    with pytest.raises(UnknownKeyId):  # Secret Manager fails: still retryable, the ring in use stays
        get_cipher().decrypt(written, "alice", "access_token")
    assert get_cipher().decrypt(value, "alice", "access_token") == "xoxp-token" and ring_secret.reads() == 3
    moved_clock(2 * interval)
    assert get_cipher().decrypt(written, "alice", "access_token") == "xoxp-new" and ring_secret.reads() == 4


class Rotation:
    """The instances of one test, the key ring secret they read, and what reaches them."""

    def __init__(self, stack, sandbox, folder):
        self.stack, self.sandbox, self.folder = stack, sandbox, folder
        self.secret = RingSecret(stack, sandbox)
        self.hosts: list[Child] = []
        catalog = load_catalog()
        (folder / "catalog.json").write_text(json.dumps({name: catalog[name] for name in INSTANCE_FUNCTIONS}))

    def publish_ring(self, keys: dict, active: str) -> None:
        self.secret.publish(keys, active)

    def instance(self, name: str) -> str:
        """Start a function host (an instance), return its URL."""
        port = free_port()
        env = {
            **self.stack.env,
            **INSTANCE_ENV,
            "TOKEN_KEY_RING": self.secret.name,
        }
        argv = [sys.executable, "-m", "local.host", "--port", str(port), "--catalog", str(self.folder / "catalog.json")]
        host = Child(name, argv, self.folder / f"{name}.log", env=env, cwd=ROOT)
        self.hosts.append(host)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: requests.get(f"{url}/api/v1/health", timeout=5).status_code in (200, 503), 60, host, name)
        return url

    def ring_reads(self) -> int:
        return self.secret.reads()

    def connect_gmail(self, session, email: str, start_on: str, land_on: str) -> dict:
        """OAuth as the browser: start on one instance, and the front door sends the callback to another."""
        started = session.get(f"{start_on}/api/v1/oauth/gmail/start")
        assert started.status_code == 200, started.text
        callback = callback_url(session, started.json()["data"]["authUrl"], email=email)
        assert callback.startswith(self.stack.api_url)  # PUBLIC_BASE_URL, the front door
        return landed(session.get(land_on + callback.removeprefix(self.stack.api_url)))

    def notify(self, host: str, email: str) -> tuple[int, str]:
        """A new message in the mailbox and Gmail's notification pushed to `host`: (status, message id)."""
        delivered = self.sandbox.post("/_sandbox/gmail/deliver", json={"email": email, "notify": False}).json()
        body = push_delivery("gmail_notifications_worker", {"emailAddress": email, "historyId": delivered["historyId"]})
        reply = requests.post(
            f"{host}/_pubsub/gmail_notifications_worker", data=body, headers={"Content-Type": "application/json"}, timeout=30
        )
        return reply.status_code, delivered["id"]


@pytest.fixture
def rotation(stack, sandbox, flag, tmp_path):
    flag("integration_auto_sync", overrides={"alice": True, "bob": True, "carol": True})
    running = Rotation(stack, sandbox, tmp_path)
    yield running
    with concurrent.futures.ThreadPoolExecutor(len(running.hosts) or 1) as pool:
        list(pool.map(Child.stop, running.hosts))  # all at once: each waits for its graceful shutdown


def _key_ids(uid: str) -> set[str]:
    record = connections.get_connection(uid, "gmail")
    return {record[column].split(".")[1] for column in ("accessToken", "refreshToken")}


def test_two_phase_rotation_across_running_instances(rotation, user):
    k1, k2 = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))
    mail = {uid: f"{uid}-{uuid.uuid4().hex[:8]}@example.com" for uid in ("alice", "bob", "carol")}
    alice, bob, carol = user("alice"), user("bob"), user("carol")

    rotation.publish_ring({"k1": k1}, "k1")
    old = rotation.instance("old")  # warm since before the rotation: it will miss phase 1
    assert rotation.connect_gmail(bob, mail["bob"], old, old)["outcome"] == "success"
    assert _key_ids("bob") == {"k1"} and rotation.ring_reads() == 1

    # Phase 1: the new key, inactive. An instance that has it still writes under k1.
    rotation.publish_ring({"k1": k1, "k2": k2}, "k1")
    learned = rotation.instance("learned")
    assert rotation.connect_gmail(carol, mail["carol"], learned, learned)["outcome"] == "success"
    assert _key_ids("carol") == {"k1"} and rotation.ring_reads() == 2

    # Phase 2: k2 active. A new instance writes under it.
    rotation.publish_ring({"k1": k1, "k2": k2}, "k2")
    writer = rotation.instance("writer")
    assert rotation.connect_gmail(alice, mail["alice"], writer, writer)["outcome"] == "success"
    assert _key_ids("alice") == {"k2"} and rotation.ring_reads() == 3

    # The instance that learned k2 in phase 1 reads it without asking Secret Manager again.
    status, first = rotation.notify(learned, mail["alice"])
    assert status == 200 and list(user_docs("alice", "mail")) == [first]
    assert rotation.ring_reads() == 3
    # The one that missed phase 1 re-reads the ring once, then decrypts: nothing is dropped.
    status, second = rotation.notify(old, mail["alice"])
    assert status == 200 and set(user_docs("alice", "mail")) == {first, second}
    assert rotation.ring_reads() == 4
    # Having re-read, it writes under k2 too, and reads a PKCE verifier the writer stored: no more reads.
    assert rotation.connect_gmail(bob, mail["bob"], writer, old)["outcome"] == "success"
    assert _key_ids("bob") == {"k2"} and rotation.ring_reads() == 4

    # Re-encrypt on the writer: every stored secret under k2.
    body = push_delivery("reencrypt_tokens", {"restart": True})
    headers = {"Content-Type": "application/json"}
    assert requests.post(f"{writer}/_pubsub/reencrypt_tokens", data=body, headers=headers, timeout=60).status_code == 200
    progress = firestore_client().collection("maintenance").document("reencrypt").get().to_dict()
    assert (progress["done"], progress["failed"], progress["activeKey"]) == (True, 0, "k2")
    assert {value.split(".")[1] for value in _ciphertexts()} == {"k2"}

    # The old key leaves the ring: a new instance and the warm ones read everything.
    rotation.publish_ring({"k2": k2}, "k2")
    fresh = rotation.instance("fresh")
    for host, uid in ((fresh, "carol"), (old, "bob"), (learned, "carol"), (fresh, "alice")):
        status, message = rotation.notify(host, mail[uid])
        assert status == 200 and message in user_docs(uid, "mail")
    assert rotation.ring_reads() == 5

    # A value under a key no ring has: the warm instance does not re-read again (rate limited), and
    # the message is retried (500, Pub/Sub redelivers), never acknowledged as a permanent failure.
    stray = TokenCipher(KeyRing({"k9": os.urandom(32)}, "k9")).encrypt("stray", "alice", token_field("gmail", "access_token"))
    connections.connection_ref("alice", "gmail").update({"accessToken": stray})
    status, message = rotation.notify(old, mail["alice"])
    assert status == 500 and message not in user_docs("alice", "mail")
    assert rotation.ring_reads() == 5


CONNECTIONS, ROUNDS = 25, 40  # 1,000 refresh / re-encryption pairs


@pytest.mark.slow
def test_reencryption_while_refreshes_are_in_flight_loses_no_rotation(user, sandbox, use_ring, monkeypatch):
    """Each round: every connection's refresh has had its reply from the rotating provider (the old
    refresh token is spent) and waits at a barrier; the re-encryption job then rewrites every token
    under the other key; then the refreshes store their replies. Every rotated token must be kept."""
    uids = [f"user{i:02d}" for i in range(CONNECTIONS)]
    for uid in uids:
        assert connect(user(uid), "slack", team_id="T0ACME", team_name="Acme", user_id=f"U0{uid.upper()}")["outcome"] == "success"
    sandbox.delete("/_sandbox/calls")
    rings = ({DEV_KEY_ID: DEV_KEY, "k2": NEW_KEY}, "k2"), ({DEV_KEY_ID: DEV_KEY, "k2": NEW_KEY}, DEV_KEY_ID)
    rewritten = []
    barrier = threading.Barrier(
        CONNECTIONS, action=lambda: rewritten.append(run_reencryption(True, 200, 60)["rewritten"]), timeout=60
    )
    real_refresh_grant = refresher.refresh_grant

    def refresh_then_wait_for_reencryption(spec, refresh_token):
        reply = real_refresh_grant(spec, refresh_token)  # rotated: the reply holds the only live refresh token
        barrier.wait()
        return reply

    monkeypatch.setattr(refresher, "refresh_grant", refresh_then_wait_for_reencryption)

    def refresh(uid: str) -> str | None:
        _doc(uid).update({"expiresAt": datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=5)})
        try:
            get_access_token(uid, "slack")
            return None
        except Exception as error:
            barrier.abort()  # the others stop waiting for this one
            return f"{uid}: {error!r}"

    with concurrent.futures.ThreadPoolExecutor(max_workers=CONNECTIONS) as pool:
        for round_number in range(ROUNDS):
            use_ring(*rings[round_number % 2])  # the stored tokens are under the other key
            failures = [f for f in pool.map(refresh, uids) if f]
            assert not failures, f"round {round_number}: {len(failures)} refreshes failed, e.g. {failures[0]}"
            barrier.reset()
    assert rewritten == [2 * CONNECTIONS] * ROUNDS  # every round rewrote both tokens of every connection in flight
    assert sandbox.get("/_sandbox/refreshes").json() == {f"slack:T0ACME:U0{uid.upper()}": ROUNDS for uid in uids}
    stored = [_doc(uid).get().to_dict() for uid in uids]
    assert {record["status"] for record in stored} == {"active"}
    cipher = get_cipher()
    plain = [cipher.decrypt(r["refreshToken"], r["uid"], token_field("slack", "refresh_token")) for r in stored]
    assert {a["state"] for a in sandbox.post("/_sandbox/introspect", json={"tokens": plain}).json()} == {"live"}


def test_a_google_refresh_during_reencryption_leaves_nothing_under_the_old_key(user, use_ring, monkeypatch):
    """Google sends no new refresh token: the refresh keeps the stored one, which re-encryption has
    just rewritten, instead of writing back the old key's ciphertext it read."""
    connect(user("bob"), "gmail", email="bob@example.com")
    use_ring({DEV_KEY_ID: DEV_KEY, "k2": NEW_KEY}, "k2")
    real_refresh_grant = refresher.refresh_grant

    def refresh_grant_during_reencryption(spec, refresh_token):
        reply = real_refresh_grant(spec, refresh_token)
        assert run_reencryption(restart=True, batch_size=10, budget_seconds=60)["rewritten"] == 2
        return reply

    monkeypatch.setattr(refresher, "refresh_grant", refresh_grant_during_reencryption)
    gmail = firestore_client().collection("users").document("bob").collection("connections").document("gmail")
    gmail.update({"expiresAt": datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=5)})
    assert get_access_token("bob", "gmail").startswith("ya29.")
    assert {value.split(".")[1] for value in _ciphertexts()} == {"k2"}
    use_ring({"k2": NEW_KEY}, "k2")  # the old key can go: the stored refresh token still reads
    gmail.update({"expiresAt": datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=5)})
    monkeypatch.setattr(refresher, "refresh_grant", real_refresh_grant)
    assert get_access_token("bob", "gmail").startswith("ya29.")
