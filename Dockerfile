# One image for every service: the command chooses which (`services.telephony`, `services.routing`,
# `services.routing.stream`, `services.ticketing`, `services.analytics`, `services.gateway.keys`,
# `services.gateway`). Built by `make image`; deploy/k8s runs it as a non-root user on a read-only root
# filesystem, with /tmp an emptyDir (Faust's working directory, chDB's files when no server is set).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/cc
ENV PATH=/opt/cc/bin:$PATH
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY pyproject.toml README.md ./
COPY services ./services
COPY proto ./proto
# The platform with its pinned dependencies, then the contracts' code from proto/ (as `make proto`
# does, without the type stubs), then the generator is dropped again.
RUN pip install . grpcio-tools==1.85.1 \
 && mkdir -p /opt/cc/gen \
 && find proto -name '*.proto' -print0 \
    | xargs -0 python -m grpc_tools.protoc -Iproto --python_out=/opt/cc/gen --grpc_python_out=/opt/cc/gen \
 && find /opt/cc/gen/cc /opt/cc/gen/buf -type d -exec touch {}/__init__.py \; \
 && pip uninstall -y grpcio-tools

FROM ${PYTHON_IMAGE}
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin cc
COPY --from=build /opt/cc /opt/cc
ENV PATH=/opt/cc/bin:$PATH \
    PYTHONPATH=/opt/cc/gen \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /tmp
USER 10001:10001
ENTRYPOINT ["python", "-m"]
CMD ["services.gateway"]
