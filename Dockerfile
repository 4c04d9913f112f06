# Front-end libraries (Chart.js) from npm, by the lock file.
FROM node:20-slim AS static
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 && rm -rf /var/lib/apt/lists/*
# The runtime lock only (no test tools), every package checked against its pinned hashes.
COPY requirements.txt .
RUN pip install --no-cache-dir --require-hashes -r requirements.txt
COPY . .
COPY --from=static /app/node_modules/chart.js/dist node_modules/chart.js/dist
# collectstatic reads no data: the URLs only satisfy the settings, nothing is contacted at build time.
# Throwaway keys (production refuses the published dev ones), not kept in the image.
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    FIELD_ENCRYPTION_KEY="$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
    DATABASE_URL=postgres://build@127.0.0.1:1/unused REDIS_URL=redis://127.0.0.1:1/0 \
    python manage.py collectstatic --noinput
# var/media: MEDIA_ROOT, a volume in docker-compose.yml, owned by the app user so uploads can be written.
RUN useradd --create-home app && mkdir -p var/media && chown -R app /app
USER app
EXPOSE 8000
CMD ["gunicorn", "smscampaigns.wsgi", "--bind", "0.0.0.0:8000", "--workers", "4", "--access-logfile", "-"]
