"""The production profile: gunicorn workers, PostgreSQL and a shared Redis cache."""

#: How many remote references the client's page renders (``urls.page``).
PAGE_SIZE = 100
