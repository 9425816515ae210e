"""Entry point for gunicorn (``gunicorn wsgi:app``) and the flask CLI.

A configuration that cannot start (production without its secrets, a malformed setting)
stops the process with one line on stderr, not a traceback.
"""

from webapp.startup import create_app_or_exit

app = create_app_or_exit()
