# The image compose.yaml runs as web, worker and release: the package installed as pip would
# install it, the same commands as the Procfile. The config is mounted at /app/config (see README).
# Python's minor version follows .python-version (what Heroku's buildpack reads).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bridge ./bridge
COPY workers ./workers
RUN pip install . && useradd --system --no-create-home --home-dir /app bridge

# Not root: the processes only need to read the config and write the templates snapshot beside it.
USER bridge
WORKDIR /app/config
