"""Django project package of example_project (settings, URLs, WSGI)."""
