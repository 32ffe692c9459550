"""Copying a user's provider data into Firestore: Gmail history and Calendar event sync on the
Google API client, the watches and channels that make the providers notify us, and the Slack
events' processing into activity and action items."""
