"""What providers and Pub/Sub push to us, verified before anything is trusted: Slack's signature
and events ingress, Calendar push notifications, the Pub/Sub consumer wrapper every worker runs in,
processed-event records, and the signed Standard Webhooks the app is sent."""
