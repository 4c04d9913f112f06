# Front-end libraries (Chart.js) from npm, by the lock file.
FROM node:20-slim AS static
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 && rm -rf /var/lib/apt/lists/*
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
COPY --from=static /app/node_modules/chart.js/dist node_modules/chart.js/dist
# collectstatic reads no data: the URLs only satisfy the settings, nothing is contacted at build time.
RUN SECRET_KEY=build FIELD_ENCRYPTION_KEY=ZGV2LW9ubHktZmllbGQta2V5LW5vdC1mb3ItcHJvZCE= \
    DATABASE_URL=postgres://build@127.0.0.1:1/unused REDIS_URL=redis://127.0.0.1:1/0 \
    python manage.py collectstatic --noinput
RUN useradd --create-home app && chown -R app /app
USER app
EXPOSE 8000
CMD ["gunicorn", "smscampaigns.wsgi", "--bind", "0.0.0.0:8000", "--workers", "4", "--access-logfile", "-"]
