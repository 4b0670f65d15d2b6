"""Django project package of remote_project (settings, URLs, WSGI)."""
