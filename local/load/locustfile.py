"""The Locust side of `make load`, run by `python -m local.load` as a headless Locust process with
LOAD_CONFIG naming the run's config (URLs, the seeded users, the scale, where to write).

The shape follows the profile in requests per second, not users: each simulated user runs one
scenario every 1/RATE_PER_USER seconds, on a phase of its own (local/load/pacing.py: the rate
arrives spread over time, not in bursts), and the shape sets the user count to the wanted rate over
that, so the achieved rate follows the profile as long as answers take less than that period.
Scenarios and weights are those of issue 9, with the proxy's (issue 17). Every request is written to a samples
file with the phase its scenario started in (for the per-phase table: a scenario that began at the
peak counts there, even if its request goes out a moment later), and every event handed to the
gateway to a ledger (for the loss check after the run).

A consumer is called the way Pub/Sub push calls it, at the host that serves the consumers (the
stack's own unless `--one-host`): a non-2xx answer is redelivered with the
backoff of our push subscriptions, and a share of deliveries is sent twice (duplicates)."""

import contextlib
import csv
import functools
import json
import math
import os
import pathlib
import random
import time
import uuid

import gevent
import requests
from locust import FastHttpUser, LoadTestShape, events, task

from local.load import pacing, payloads, profile, progress

CONFIG = json.loads(pathlib.Path(os.environ["LOAD_CONFIG"]).read_text())
PHASES = profile.scaled(CONFIG["scale"])
USERS = CONFIG["users"]
CALENDAR_USERS = [u for u in USERS if u["role"] == "calendar"]
TOKEN_READ_USERS = [u for u in USERS if u["role"] == "token_read"]
SERVICES = ("slack", "gmail", "calendar")
PROXY_CALLS = (("slack", "conversations.list"), ("gmail", "gmail/v1/users/me/labels"), ("calendar", "users/me/calendarList"))

SPAWN_RATE = 100  # users started or stopped a second: the largest step (to peak) takes a second; Locust warns above 100
RATE_PER_USER = 0.5  # scenarios a second per simulated user: a 2 s period leaves room for slow answers
REDELIVERY_BACKOFF = (1.0, 10.0)  # local/pubsub_setup.py's retry policy: minimum and maximum backoff
REDELIVERIES = 15
DUPLICATE_SHARE = 0.05
PUSH_ACKS = (102, 200, 201, 202, 204)  # what Pub/Sub push counts as acknowledged
PROGRESS_SECONDS = 5  # how often the current phase's figures are printed

_samples = open(CONFIG["samples"], "a", newline="", buffering=1)  # noqa: SIM115 - open for the whole run
_ledger = open(CONFIG["ledger"], "a", buffering=1)  # noqa: SIM115 - open for the whole run
_writer = csv.writer(_samples)
_shape: "ProfileShape | None" = None
_busy: set[str] = set()  # users with a consumer call in progress
_progress = progress.Progress(PHASES)
_started_at: list[float] = []  # the wall-clock time of the profile's run time zero, once known


class ProfileShape(LoadTestShape):
    def tick(self):
        now = profile.at(PHASES, self.get_run_time())
        if now is None:
            return None
        # All at once: a gradual ramp-down keeps the users it has not reached yet starting scenarios.
        return max(1, math.ceil(now[1] / RATE_PER_USER)), SPAWN_RATE


@events.init.add_listener
def _remember_shape(environment, **kwargs):
    global _shape
    _shape = environment.shape_class


def current_phase() -> str:
    now = profile.at(PHASES, _shape.get_run_time())
    return now[0].name if now else PHASES[-1].name


@events.request.add_listener
def _record(name, response_time, exception, context, **kwargs):
    """phase, request name, start (seconds into the run), milliseconds, 1 if it succeeded."""
    answered = _shape.get_run_time()
    if not _started_at:  # for the CPU per phase (local/load/cpu_share.py), laid on the profile's own clock
        _started_at.append(time.time() - answered)
        pathlib.Path(CONFIG["started"]).write_text(f"{_started_at[0]:.3f}")
    started = answered - response_time / 1000
    _writer.writerow([context["phase"], name, f"{started:.3f}", f"{response_time:.1f}", 0 if exception else 1])
    _progress.record(answered, exception is None)


@events.test_start.add_listener
def _start_progress(environment, **kwargs):
    gevent.spawn(_print_progress)


def _print_progress():
    """Every PROGRESS_SECONDS until the profile ends: each ended phase's last line, the current phase's figures."""
    while True:
        gevent.sleep(PROGRESS_SECONDS)
        lines, running = _progress.report(_shape.get_run_time())
        for line in lines:
            print(line, flush=True)
        if not running:
            return


@contextlib.contextmanager
def one_at_a_time(users: list[dict]):
    """A user with no consumer call in progress (any, if all are busy): Gmail notifies a mailbox at
    most once a second, so one mailbox's syncs do not pile up on each other as they would if the
    generator picked blindly."""
    free = [u for u in users if u["uid"] not in _busy]
    user = random.choice(free or users)
    _busy.add(user["uid"])
    try:
        yield user
    finally:
        _busy.discard(user["uid"])


def sent(kind: str, uid: str, event_id: str) -> None:
    """A ledger line: an event the gateway owes an effect for (kind slack, gmail or calendar), a second
    delivery of one that must have no second effect (slack-duplicate, gmail-duplicate), or a push
    given up after every redelivery (abandoned)."""
    _ledger.write(json.dumps({"kind": kind, "uid": uid, "id": event_id}) + "\n")


def scenario(weight: int):
    """A task of that weight that notes the phase it started in, for its requests' samples."""

    def decorate(method):
        @functools.wraps(method)
        def run(self):
            self.phase = current_phase()
            method(self)

        return task(weight)(run)

    return decorate


class GatewayUser(FastHttpUser):
    phase = PHASES[0].name

    def context(self) -> dict:
        return {"phase": self.phase}

    def on_start(self):
        self.sandbox = requests.Session()
        self.pacing = pacing.Pacing(1 / RATE_PER_USER)
        gevent.sleep(self.pacing.wait())  # users added at once do not start, or go on, at once

    def wait_time(self) -> float:
        return self.pacing.wait()

    def _bearer(self, user: dict) -> dict:
        return {"Authorization": f"Bearer {user['idToken']}"}

    def _push(self, consumer: str, body: bytes, name: str, uid: str) -> bool:
        """Deliver as a push subscription does: redeliver after a backoff until acknowledged (or, after
        REDELIVERIES attempts, give up as a dead-letter policy would)."""
        for attempt in range(REDELIVERIES):
            label = name if attempt == 0 else f"{name} (redelivery)"
            with self.client.post(
                f"{CONFIG['consumers']}/_pubsub/{consumer}",
                data=body,
                headers={"Content-Type": "application/json"},
                name=label,
                catch_response=True,
            ) as reply:
                if reply.status_code in PUSH_ACKS:
                    reply.success()
                    return True
                reply.failure(f"consumer answered {reply.status_code} {reply.error or ''}".strip())
            gevent.sleep(min(REDELIVERY_BACKOFF[0] * 2**attempt, REDELIVERY_BACKOFF[1]))
        sent("abandoned", uid, name)
        return False

    @scenario(10)
    def health(self):
        self.client.get("/api/v1/health", name="health")

    @scenario(20)
    def slack_event(self):
        user, now = random.choice(USERS), time.time()
        event_id = f"Ev{uuid.uuid4().hex[:16].upper()}"
        body = payloads.slack_message_event(event_id, user["team"], user["slackUser"], "TODO: reply to the load test", now)
        headers = payloads.slack_signature_headers(CONFIG["signingSecret"], body, now)
        with self.client.post(
            "/api/v1/webhooks/slack/events", data=body, headers=headers, name="slack event", catch_response=True
        ) as reply:
            if reply.ok:  # Slack will not send an acknowledged event again: its effect is owed
                sent("slack", user["uid"], event_id)
            if reply.status_code != 200 or not reply.json()["data"].get("queued"):
                reply.failure(f"not queued: {reply.status_code} {reply.error or ''}".strip())
                return
        if random.random() < DUPLICATE_SHARE:  # Slack's retry of a delivery it thinks failed
            retry = {**headers, "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
            with self.client.post(
                "/api/v1/webhooks/slack/events", data=body, headers=retry, name="slack event (retry)", catch_response=True
            ) as reply:
                if reply.status_code != 200 or not reply.json()["data"].get("queued"):  # queued again, recorded once
                    reply.failure(f"retry not queued: {reply.status_code}")
                    return
                sent("slack-duplicate", user["uid"], event_id)

    @scenario(20)
    def calendar_notification(self):
        user = random.choice(CALENDAR_USERS)
        change = self.sandbox.post(
            f"{CONFIG['sandbox']}/_sandbox/calendar/change",
            json={"email": user["email"], "action": "create", "summary": "load", "notify": False},
            timeout=60,
        ).json()
        sent("calendar", user["uid"], change["eventId"])
        for notification in change["notifications"]:
            with self.client.post(
                "/api/v1/webhooks/calendar/push",
                headers=notification["headers"],
                name="calendar notification",
                catch_response=True,
            ) as reply:
                if reply.status_code != 200 or not reply.json()["data"].get("queued"):
                    reply.failure(f"not queued: {reply.status_code} {reply.error or ''}".strip())

    @scenario(20)
    def gmail_notification(self):
        with one_at_a_time(USERS) as user:
            self._gmail_notification(user)

    def _gmail_notification(self, user: dict):
        delivered = self.sandbox.post(
            f"{CONFIG['sandbox']}/_sandbox/gmail/deliver",
            json={"email": user["email"], "subject": "load", "notify": False},
            timeout=60,
        ).json()
        sent("gmail", user["uid"], delivered["id"])
        body = payloads.push_delivery(
            "gmail_notifications_worker", {"emailAddress": user["email"], "historyId": delivered["historyId"]}
        )
        acknowledged = self._push("gmail_notifications_worker", body, "gmail notification", user["uid"])
        duplicate = acknowledged and random.random() < DUPLICATE_SHARE  # Pub/Sub delivers the same message again
        if duplicate and self._push("gmail_notifications_worker", body, "gmail notification (duplicate)", user["uid"]):
            sent("gmail-duplicate", user["uid"], delivered["id"])

    @scenario(15)
    def connections_and_status(self):
        user = random.choice(USERS)
        if random.random() < 0.5:
            self.client.get("/api/v1/oauth/connections", headers=self._bearer(user), name="connections")
        else:
            self.client.get(f"/api/v1/oauth/{random.choice(SERVICES)}/status", headers=self._bearer(user), name="status")

    @scenario(10)
    def token_read(self):
        """No endpoint hands out a token; the Calendar consumer reads one and calls the provider with it."""
        with one_at_a_time(TOKEN_READ_USERS) as user:
            payload = {"uid": user["uid"], "channelId": user["channelId"], "state": "exists", "messageNumber": "0"}
            body = payloads.push_delivery("calendar_notifications_worker", payload)
            self._push("calendar_notifications_worker", body, "token read", user["uid"])

    @scenario(10)
    def proxy(self):
        """The app acting through a user's connection: one provider read through the proxy."""
        user = random.choice(USERS)
        service, path = random.choice(PROXY_CALLS)
        with self.client.get(
            f"/api/v1/proxy/{service}/{path}", headers=self._bearer(user), name=f"proxy {service}", catch_response=True
        ) as reply:
            if reply.status_code != 200 or (service == "slack" and not reply.json().get("ok")):
                reply.failure(f"proxy answered {reply.status_code} {reply.error or ''}".strip())

    @scenario(5)
    def oauth_start(self):
        user = random.choice(USERS)
        self.client.get(f"/api/v1/oauth/{random.choice(SERVICES)}/start", headers=self._bearer(user), name="oauth start")
