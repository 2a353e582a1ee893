# syntax=docker/dockerfile:1
# The Accord gateway: `accord serve` (uvicorn), as uid 10001, on port 8000.
# Build from the repository root, the build context:
#   docker build -f docker/gateway.Dockerfile -t accord-gateway .
# The same image runs the one-shot migration (`accord db upgrade`) and the demo
# alliance (`accord demo up`, development only); see compose.yaml and docker/README.md.

# --- builder: a virtualenv with the project and its pinned dependencies -------------
FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
# pip compiles the bytecode here: uid 10001 cannot write it into /opt/venv later.
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, in their own layer: a change of code does not reinstall them.
# Every transitive requirement is pinned in requirements/constraints.txt (`make lock`).
COPY pyproject.toml ./
COPY requirements/constraints.txt requirements/constraints.txt
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > requirements.txt \
 && pip install -c requirements/constraints.txt -r requirements.txt

# The project itself, not editable: the runtime stage keeps only the virtualenv.
# federation/ comes too: the gateway uses its accounting and sampling (never torch).
COPY README.md ./
COPY gateway gateway
COPY consent consent
COPY federation federation
COPY sdk sdk
RUN pip install -c requirements/constraints.txt . \
 && accord --help > /dev/null

# --- runtime: the virtualenv and nothing to build with --------------------------------
FROM python:3.11-slim AS runtime

LABEL org.opencontainers.image.title="accord-gateway" \
      org.opencontainers.image.description="Accord identity federation and consent gateway" \
      org.opencontainers.image.licenses="Apache-2.0"

# uid/gid 10001: not root, and outside the range a host's own users take.
RUN groupadd --gid 10001 accord \
 && useradd --uid 10001 --gid 10001 --no-log-init --create-home --home-dir /home/accord \
      --shell /usr/sbin/nologin accord \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/accord /var/lib/accord/keys

COPY --from=builder /opt/venv /opt/venv
COPY docker/healthcheck.py /opt/accord/healthcheck.py

# Settings (gateway/settings.py) the container needs different from a developer's:
# bind every interface, keep keys and the SQLite fallback on the data volume.
# Secrets, the issuer and the database URL come from the environment at run time.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ACCORD_HOST=0.0.0.0 \
    ACCORD_PORT=8000 \
    ACCORD_KEY_DIR=/var/lib/accord/keys \
    ACCORD_DATABASE_URL=sqlite:////var/lib/accord/accord.db

WORKDIR /var/lib/accord
USER 10001:10001
EXPOSE 8000

# Liveness only (/healthz): readiness (/readyz) needs the database, which compose checks.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/opt/accord/healthcheck.py", "http", "/healthz"]

ENTRYPOINT ["accord"]
CMD ["serve"]
