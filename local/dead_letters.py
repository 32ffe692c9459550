"""Replaying a consumer's dead letters. After 10 failed deliveries Pub/Sub forwards a message to the
consumer's dead-letter topic, where `<function>-dead-letter-store` keeps it a week (infra/pubsub.tf).
Once the cause is fixed, this re-publishes each stored message to the topic the consumer reads, with
its data and attributes (less the CloudPubSubDeadLetter* ones Pub/Sub added when forwarding it), and
acknowledges it in the store only after the publish is confirmed: a message is never lost, and at
worst replayed twice, which the idempotent consumers absorb. The replay gets a new publish time, so
the consumers' maximum-age checks start afresh. Message contents are never printed.

    python -m local.dead_letters --topic slack-events [--project P] [--limit N] [--dry-run]
    (make replay-dead-letters TOPIC=slack-events PROJECT=my-project)
"""

import argparse
import concurrent.futures
import os
import sys

from google.api_core.exceptions import DeadlineExceeded, GoogleAPIError
from google.cloud import pubsub_v1

from local.catalog import consumers, load_catalog

FORWARDING_ATTRIBUTES = "CloudPubSubDeadLetter"  # https://cloud.google.com/pubsub/docs/handling-failures
PULL_BATCH = 100
DEFAULT_WAIT_SECONDS = 10
PUBLISH_TIMEOUT_SECONDS = 60


def store_subscription(topic: str) -> str:
    """The dead-letter store of the consumer of `topic`, named as Terraform names it (hyphens)."""
    readers = [name for name, consumed in consumers(load_catalog()).items() if consumed == topic]
    if len(readers) != 1:
        raise ValueError(
            f"no single consumer reads {topic!r}; consumed topics: {', '.join(sorted(set(consumers(load_catalog()).values())))}"
        )
    return f"{readers[0].replace('_', '-')}-dead-letter-store"


def original_attributes(attributes) -> dict[str, str]:
    return {key: value for key, value in attributes.items() if not key.startswith(FORWARDING_ATTRIBUTES)}


def replay(project: str, topic: str, limit: int, dry_run: bool = False, wait: float = DEFAULT_WAIT_SECONDS) -> int:
    """Re-publish up to `limit` stored dead letters of `topic`'s consumer; returns how many. A pull
    that finds nothing within `wait` seconds ends the replay."""
    subscriber, publisher = pubsub_v1.SubscriberClient(), pubsub_v1.PublisherClient()
    store = subscriber.subscription_path(project, store_subscription(topic))
    target = publisher.topic_path(project, topic)
    done = 0
    while done < limit:
        try:
            reply = subscriber.pull(request={"subscription": store, "max_messages": min(PULL_BATCH, limit - done)}, timeout=wait)
        except DeadlineExceeded:
            break
        if not reply.received_messages:
            break
        for received in reply.received_messages:
            message = received.message
            attributes = dict(message.attributes)
            print(
                f"{'would replay' if dry_run else 'replaying'} {message.message_id}: {len(message.data)} bytes, "
                f"{attributes.get('CloudPubSubDeadLetterSourceDeliveryCount', '?')} attempts, first published "
                f"{attributes.get('CloudPubSubDeadLetterSourceTopicPublishTime', '?')}",
                flush=True,
            )
            if dry_run:
                continue
            publisher.publish(target, message.data, **original_attributes(attributes)).result(timeout=PUBLISH_TIMEOUT_SECONDS)
            subscriber.acknowledge(request={"subscription": store, "ack_ids": [received.ack_id]})
            done += 1
        if dry_run:  # hand the messages back at once instead of after their ack deadline
            ack_ids = [received.ack_id for received in reply.received_messages]
            subscriber.modify_ack_deadline(request={"subscription": store, "ack_ids": ack_ids, "ack_deadline_seconds": 0})
            return len(ack_ids)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Re-publish a consumer's dead letters to the topic it consumes")
    parser.add_argument("--topic", required=True, help="the topic the consumer reads, e.g. slack-events")
    parser.add_argument("--project", default=os.environ.get("GCP_PROJECT") or os.environ.get("GOOGLE_CLOUD_PROJECT"))
    parser.add_argument("--limit", type=int, default=1000, help="at most this many messages (default 1000)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be replayed, change nothing")
    parser.add_argument(
        "--wait", type=float, default=DEFAULT_WAIT_SECONDS, help="seconds a pull may wait before the store counts as empty"
    )
    args = parser.parse_args(argv)
    if not args.project:
        parser.error("needs --project (or GCP_PROJECT)")
    try:
        store_subscription(args.topic)
    except ValueError as error:
        parser.error(str(error))
    try:
        count = replay(args.project, args.topic, args.limit, args.dry_run, args.wait)
    except (GoogleAPIError, concurrent.futures.TimeoutError) as error:
        print(f"stopped: {type(error).__name__}; the message being replayed stays in the store", file=sys.stderr)
        return 1
    verb = "listed" if args.dry_run else "replayed"
    print(f"{verb} {count} message(s) from {store_subscription(args.topic)} to {args.topic}")
    if count == args.limit:
        print("the limit was reached: the store may hold more; run again")
    return 0


if __name__ == "__main__":
    sys.exit(main())
