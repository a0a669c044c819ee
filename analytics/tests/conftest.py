from analytics.tests.worlds import world  # noqa: F401 (a fixture)
