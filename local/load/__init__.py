"""`make load`: Locust against the local stack with the load profile of issue 9; see __main__.py."""
