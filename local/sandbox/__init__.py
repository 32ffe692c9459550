"""The provider sandbox: one local HTTP server that speaks Slack's and Google's wire formats,
acts as the Firebase ID-token issuer, and serves Secret Manager's access call."""
