# syntax=docker/dockerfile:1
# Accord's federated learning: a Flower SuperNode with the ClientApp (federation.apps:client)
# by default; the same image runs the SuperLink (`flower-superlink`, which starts the
# ServerApp, federation.apps:server) and `flwr run` against the app in /opt/accord/flower_app.
# Build from the repository root, the build context:
#   docker build -f docker/federation.Dockerfile -t accord-federation .

# --- builder: a virtualenv with CPU-only torch, flwr, opacus and the project ----------
FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
# pip compiles the bytecode here: uid 10001 cannot write it into /opt/venv later.
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# torch first, the CPU build from PyTorch's CPU index: nothing installed later can pull
# CUDA packages, since the pin below is already satisfied (as `make` does it).
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

# The other dependencies in their own layer, pinned by requirements/constraints.txt.
COPY pyproject.toml ./
COPY requirements/constraints.txt requirements/constraints.txt
RUN python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print("\n".join(p["dependencies"] + p["optional-dependencies"]["federation"]))' > requirements.txt \
 && pip install -c requirements/constraints.txt -r requirements.txt

# The project itself (the ServerApp and ClientApp live in the federation package).
COPY README.md ./
COPY gateway gateway
COPY consent consent
COPY federation federation
COPY sdk sdk
RUN pip install -c requirements/constraints.txt ".[federation]" \
 && python -c "import torch, flwr, federation.apps; assert torch.version.cuda is None"

# --- runtime: the virtualenv, the Flower app folder and the Flower configuration ------
FROM python:3.11-slim AS runtime

LABEL org.opencontainers.image.title="accord-federation" \
      org.opencontainers.image.description="Accord federated learning: Flower SuperNode with the ClientApp, SuperLink" \
      org.opencontainers.image.licenses="Apache-2.0"

# uid/gid 10001, as in the gateway image. /var/lib/flower holds the SuperLink's state
# and the ServerApp's results; $FLWR_HOME must be writable (`flwr run` unpacks apps there).
RUN groupadd --gid 10001 accord \
 && useradd --uid 10001 --gid 10001 --no-log-init --create-home --home-dir /home/accord \
      --shell /usr/sbin/nologin accord \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/flower /home/accord/.flwr

COPY --from=builder /opt/venv /opt/venv
COPY docker/healthcheck.py /opt/accord/healthcheck.py
COPY federation/flower_app /opt/accord/flower_app
COPY --chown=10001:10001 docker/flwr-config.toml /home/accord/.flwr/config.toml

# SuperExec, flwr-serverapp and flwr-clientapp are found on PATH. No telemetry, no update
# check, and no `uv sync` at run time: the image already holds every dependency.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FLWR_HOME=/home/accord/.flwr \
    FLWR_TELEMETRY_ENABLED=0 \
    FLWR_DISABLE_UPDATE_CHECK=1 \
    FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION=1

WORKDIR /home/accord
USER 10001:10001
# 9093: the SuperLink's HTTP API (Fleet and Control); 9099: the gRPC health server
# either process starts with --health-server-address. A SuperNode only dials out.
EXPOSE 9093 9099

# A SuperNode needs its SuperLink and its partition: compose.yaml passes them, e.g.
#   --insecure --superlink superlink:9093 --node-config "partition-id=0 num-partitions=2"
ENTRYPOINT ["flower-supernode"]
CMD ["--help"]
