# The jiesu service image: one image, three roles chosen by the command —
#   python -m app      the gateway          python -m workers   an intake worker
#   alembic upgrade head   the migrations (run once per deploy, before the rest)
# Configuration by environment variables; see the table in README.md.
# The dashboard's chart library, from npm by its lock (sha512-checked): the image serves it, so an offline
# intranet needs no CDN.
FROM node:20-slim AS dashboard
WORKDIR /dashboard
COPY app/dashboard/package.json app/dashboard/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY ingest ./ingest
COPY workers ./workers
COPY jiesu ./jiesu
COPY loadtest ./loadtest
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 jiesu
WORKDIR /srv/jiesu
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY alembic.ini ./
COPY migrations ./migrations
COPY --from=dashboard /dashboard/node_modules/echarts/dist/echarts.min.js \
     /srv/jiesu/dashboard/node_modules/echarts/dist/echarts.min.js
ENV JIESU_DASHBOARD_DIR=/srv/jiesu/dashboard
USER jiesu
ENV HOST=0.0.0.0 PORT=8000 PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz', timeout=2)"
CMD ["python", "-m", "app"]
