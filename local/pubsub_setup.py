"""Creates the topics and the consumers' push subscriptions in the Pub/Sub emulator, so messages
reach the functions the way production delivers them (a non-2xx reply means redelivery)."""

import contextlib

from google.api_core.exceptions import AlreadyExists
from google.cloud import pubsub_v1

PUSH_ACK_DEADLINE = 30


def ensure_topics(project: str, topics: list[str]) -> None:
    publisher = pubsub_v1.PublisherClient()
    for topic in topics:
        with contextlib.suppress(AlreadyExists):
            publisher.create_topic(request={"name": publisher.topic_path(project, topic)})


def ensure_push_subscriptions(project: str, consumers: dict[str, str], push_base_url: str) -> None:
    subscriber = pubsub_v1.SubscriberClient()
    publisher = pubsub_v1.PublisherClient()
    for name, topic in consumers.items():
        request = {
            "name": subscriber.subscription_path(project, f"{name}-push"),
            "topic": publisher.topic_path(project, topic),
            "push_config": {"push_endpoint": f"{push_base_url}/_pubsub/{name}"},
            "ack_deadline_seconds": PUSH_ACK_DEADLINE,
            "retry_policy": {"minimum_backoff": {"seconds": 1}, "maximum_backoff": {"seconds": 10}},
        }
        with contextlib.suppress(AlreadyExists):
            subscriber.create_subscription(request=request)
