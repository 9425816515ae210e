# A production image: the same build as Heroku's (pip install -r requirements.txt, then
# bin/post_compile for the front-end assets) and the Procfile's processes.
#
#   docker build -t mercato .
#   docker run --env-file prod.env mercato release      # migrations, once per deploy
#   docker run --env-file prod.env -p 5000:5000 mercato  # web (the default)
#   docker run --env-file prod.env mercato worker
#   docker run --env-file prod.env mercato scheduler
#
# prod.env holds the config vars (README: Configuration): SECRET_KEY,
# MERCATO_ENCRYPTION_KEYS, DATABASE_URL, REDIS_URL...
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=5000

WORKDIR /app
RUN useradd --create-home --uid 10001 mercato

COPY requirements.txt ./
RUN pip install --requirement requirements.txt

COPY . .
# The front-end assets (htmx, Pico CSS), verified against package-lock.json: web refuses
# to start without them.
RUN bin/post_compile \
    && mkdir -p instance \
    && chown mercato instance

USER mercato
EXPOSE 5000
ENTRYPOINT ["bin/procfile"]
CMD ["web"]
