"""gunicorn's configuration file for web (the Procfile names it; gunicorn also reads it by
itself from the working directory).

Before gunicorn binds its port or forks a worker, web checks what it cannot serve without
and refuses to start with one line on stderr, exit status 1: a configuration that does not
load (production without SECRET_KEY and MERCATO_ENCRYPTION_KEYS...), or front-end assets
missing because the build did not run bin/post_compile (pages would load unstyled and
nothing would update live). The bind address, workers and timeout stay on the Procfile's
command line.
"""

from webapp.startup import check_web

check_web()
