"""Terraform, parsed (python-hcl2), checked for what `terraform validate` would catch without the
providers (every reference names something declared) and for the wiring the code relies on."""

import pathlib
import re

import hcl2
import pytest

from local.catalog import ROOT

INFRA = ROOT / "infra"
PARSED = {path.name: hcl2.loads(path.read_text()) for path in sorted(INFRA.glob("*.tf"))}


def _blocks(kind: str) -> list[dict]:
    return [block for parsed in PARSED.values() for block in parsed.get(kind, [])]


def _resources() -> dict[str, dict]:
    found = {}
    for block in _blocks("resource"):
        for rtype, named in block.items():
            for name, body in named.items():
                found[f"{rtype.strip(chr(34))}.{name.strip(chr(34))}"] = body
    return found


RESOURCES = _resources()
DATA = {f"{t.strip(chr(34))}.{n.strip(chr(34))}" for block in _blocks("data") for t, named in block.items() for n in named}
VARIABLES = {name.strip('"') for block in _blocks("variable") for name in block}
LOCALS = {name for block in _blocks("locals") for name in block}
TEXT = "\n".join(path.read_text() for path in INFRA.glob("*.tf"))


def test_every_file_parses():
    assert set(PARSED) >= {"main.tf", "functions.tf", "iam.tf", "pubsub.tf", "gateway.tf", "firestore.tf", "scheduler.tf"}


def test_every_reference_names_something_declared():
    code = re.sub(r"(?m)#.*$", "", TEXT)
    references = set(re.findall(r"(?<![\w.])(google(?:_[a-z0-9]+)+)\.([a-z_][a-z0-9_]*)(?=[.\[])", code))
    assert len(references) > 10
    for rtype, name in references:
        assert f"{rtype}.{name}" in RESOURCES, f"undeclared {rtype}.{name}"
    for name in set(re.findall(r"\bvar\.([a-z_][a-z0-9_]*)", code)):
        assert name in VARIABLES, f"undeclared var.{name}"
    for name in set(re.findall(r"\blocal\.([a-z_][a-z0-9_]*)", code)):
        assert name in LOCALS, f"undeclared local.{name}"
    for rtype, name in set(re.findall(r"\bdata\.([a-z0-9_]+)\.([a-z0-9_]+)", code)):
        assert f"{rtype}.{name}" in DATA, f"undeclared data.{rtype}.{name}"


@pytest.mark.parametrize(
    "resource, for_each",
    [
        ("google_cloudfunctions2_function.fn", "${local.functions}"),
        ("google_service_account.fn", "${local.functions}"),
        ("google_storage_bucket_object.source", "${local.functions}"),
        ("google_pubsub_subscription.push", "${local.event_consumers}"),
        ("google_pubsub_topic.dead_letter", "${local.dead_letter_sources}"),
        ("google_secret_manager_secret_iam_member.accessor", "${local.secret_grants}"),
        ("google_pubsub_topic_iam_member.fn", "${local.topic_role_grants}"),
        ("google_pubsub_topic.topic", "${local.topics}"),
    ],
)
def test_everything_is_declared_from_the_catalog(resource, for_each):
    assert RESOURCES[resource]["for_each"] == for_each


def test_every_consumer_has_retries_a_dead_letter_topic_and_authenticated_push():
    push = RESOURCES["google_pubsub_subscription.push"]
    assert push["retry_policy"] and push["dead_letter_policy"]
    oidc = push["push_config"][0]["oidc_token"][0]
    assert oidc["service_account_email"] == "${google_service_account.fn[each.key].email}"
    assert "function_defs" in TEXT and 'file("${path.module}/functions.json")' in TEXT


def test_each_consumer_requires_the_audience_its_pushes_are_minted_for():
    """The consumer checks push tokens against PUSH_AUDIENCE, not the request's Host: it must be the
    URL the subscription delivers to and mints its tokens for."""
    push = RESOURCES["google_pubsub_subscription.push"]
    assert push["push_config"][0]["push_endpoint"] == "${local.push_urls[each.key]}"
    assert push["push_config"][0]["oidc_token"][0]["audience"] == "${local.push_urls[each.key]}"
    assert re.search(r"PUSH_AUDIENCE\s*=\s*local\.push_urls\[key\]", TEXT)
    (urls,) = [block["push_urls"] for block in _blocks("locals") if "push_urls" in block]
    assert urls == "${{for key, fn in local.event_consumers : key => local.predicted_urls[key]}}"


def test_secrets_are_granted_per_secret_and_never_hold_values():
    assert (
        RESOURCES["google_secret_manager_secret_iam_member.accessor"]["role"].strip('"') == "roles/secretmanager.secretAccessor"
    )
    assert not any(key.startswith("google_secret_manager_secret_version.") for key in RESOURCES)


def test_source_objects_are_md5_named():
    assert "filemd5(" in RESOURCES["google_storage_bucket_object.source"]["name"]


def test_the_readme_says_validate_runs_in_cloud_build():
    assert "terraform validate" in pathlib.Path(ROOT / "cloudbuild.yaml").read_text()


def _logged_metrics() -> set[str]:
    """The values of the "metric" field that the code puts on log lines."""
    code = "\n".join(path.read_text() for path in (ROOT / "common").rglob("*.py"))
    return set(re.findall(r'"metric": "([a-z_]+)"', code))


def test_every_log_based_metric_is_logged_by_the_code_and_every_logged_metric_is_counted():
    declared = {name for block in _blocks("locals") if "log_metrics" in block for name in block["log_metrics"]}
    assert declared == _logged_metrics() and "token_refresh_failed" in declared
    assert RESOURCES["google_logging_metric.signal"]["for_each"] == "${local.log_metrics}"


def test_alerts_cover_refresh_failures_webhook_errors_and_dead_letters():
    refresh = RESOURCES["google_monitoring_alert_policy.refresh_failure_rate"]["conditions"][0]
    query = refresh["condition_prometheus_query_language"][0]["query"]
    assert "user_token_refresh_failed" in query and "user_token_refresh_succeeded" in query
    webhook = RESOURCES["google_monitoring_alert_policy.webhook_failures"]["conditions"][0]["condition_threshold"][0]
    assert 'logging.googleapis.com/user/${google_logging_metric.signal["webhook_failed"].name}' in webhook["filter"]
    dead = RESOURCES["google_monitoring_alert_policy.dead_letter_backlog"]["conditions"][0]["condition_threshold"][0]
    assert "num_undelivered_messages" in dead["filter"] and 'full_match(\\".*-dead-letter-store\\")' in dead["filter"]
    assert RESOURCES["google_pubsub_subscription.dead_letter_store"]["name"] == '"${each.value}-dead-letter-store"'
    for name in ("refresh_failure_rate", "webhook_failures", "dead_letter_backlog"):
        assert RESOURCES[f"google_monitoring_alert_policy.{name}"]["notification_channels"] == "${local.alert_channels}"


def test_retries_outlast_a_crashed_calendar_syncs_lease():
    """A notification arriving while a crashed sync still holds the lease is retried until the lease
    lapses, not dead-lettered: the backoff (doubling from the minimum) must add up to more than it."""
    from common.sync.calendar_sync import SYNC_LEASE_SECONDS

    (attempts,) = [b["max_delivery_attempts"] for b in _blocks("locals") if "max_delivery_attempts" in b]
    policy = RESOURCES["google_pubsub_subscription.push"]["retry_policy"][0]
    low, high = (int(policy[k].strip('"s')) for k in ("minimum_backoff", "maximum_backoff"))
    waited = sum(min(high, low * 2**retry) for retry in range(attempts - 1))
    assert waited > SYNC_LEASE_SECONDS


def _query(policy: str) -> str:
    (condition,) = RESOURCES[f"google_monitoring_alert_policy.{policy}"]["conditions"]
    return condition["condition_prometheus_query_language"][0]["query"]


def test_functions_alert_on_their_5xx_ratio_and_p95_latency_one_series_per_function():
    ratio = _query("function_5xx_ratio")
    assert 'run_googleapis_com:request_count{monitored_resource="cloud_run_revision",response_code_class="5xx"' in ratio
    assert ratio.count("sum by (service_name)") >= 3 and "var.alert_function_5xx_ratio" in ratio
    latency = RESOURCES["google_monitoring_alert_policy.function_latency_p95"]
    assert latency["for_each"] == "${local.functions}"
    query = latency["conditions"][0]["condition_prometheus_query_language"][0]["query"]
    assert "histogram_quantile(0.95" in query and "run_googleapis_com:request_latencies_bucket" in query
    assert 'service_name=\\"${each.value.name}\\"' in query or 'service_name="${each.value.name}"' in query


def test_the_gateway_alerts_on_its_5xx_ratio():
    query = _query("gateway_5xx_ratio")
    assert "apigateway_googleapis_com:proxy_request_count" in query and 'response_code_class="5xx"' in query


def test_every_subscription_alerts_on_its_oldest_unacknowledged_message():
    (condition,) = RESOURCES["google_monitoring_alert_policy.subscription_backlog_age"]["conditions"]
    threshold = condition["condition_threshold"][0]
    assert 'metric.type = \\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\\"' in threshold["filter"]
    assert "local.backlog_alert_subscriptions" in threshold["filter"]
    (block,) = [b for b in _blocks("locals") if "backlog_alert_subscriptions" in b]
    assert "google_pubsub_subscription.push" in block["backlog_alert_subscriptions"]
    assert "google_pubsub_subscription.analytics_to_bigquery" in block["backlog_alert_subscriptions"]


def test_scheduler_job_failures_alert():
    policy = RESOURCES["google_monitoring_alert_policy.scheduler_failures"]
    log = policy["conditions"][0]["condition_matched_log"][0]
    assert log["filter"] == '"resource.type=\\"cloud_scheduler_job\\" AND severity>=ERROR"'
    assert policy["alert_strategy"][0]["notification_rate_limit"]


def test_every_alert_mails_the_alert_channels():
    for address, body in RESOURCES.items():
        if address.startswith("google_monitoring_alert_policy."):
            assert body["notification_channels"] == "${local.alert_channels}", address


def test_the_bigquery_subscription_dead_letters_what_bigquery_refuses():
    policy = RESOURCES["google_pubsub_subscription.analytics_to_bigquery"]["dead_letter_policy"][0]
    assert policy["dead_letter_topic"] == '${google_pubsub_topic.dead_letter["analytics_bigquery"].id}'
    assert RESOURCES["google_pubsub_topic.dead_letter"]["for_each"] == "${local.dead_letter_sources}"
    assert RESOURCES["google_pubsub_subscription_iam_member.bigquery_dead_letter_subscriber"]["subscription"] == (
        "${google_pubsub_subscription.analytics_to_bigquery.name}"
    )


def test_every_accepted_policy_finding_says_why():
    """make lint runs checkov; a finding is accepted only with a checkov:skip comment giving its reason."""
    skips = re.findall(r"#\s*checkov:skip=(CKV_[A-Z0-9_]+)(?::(.*))?", TEXT)
    assert skips and all(len((reason or "").strip()) >= 30 for _, reason in skips), skips
