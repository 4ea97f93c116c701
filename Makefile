# One entry point for a newcomer: `make demo` to watch it run, `make test` to check it.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
GEN := gen/python
PROTOS := $(shell find proto -name '*.proto')
STAMP := .local/stamps

.PHONY: setup proto up down demo test test-unit test-integration test-e2e lint bench bench-idle bench-commands bench-routing bench-kafka-clients bench-journey bench-sink bench-board bench-staffing bench-strategies bench-console k8s-manifests k8s-check image chaos clean

setup: $(STAMP)/venv $(STAMP)/kafka $(STAMP)/k8s-tools $(GEN)/.stamp

$(STAMP)/venv: pyproject.toml
	@mkdir -p $(STAMP)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@# generated code and the repo root on the venv's path, so every process imports `cc.*` and `services.*`
	echo "$(CURDIR)/$(GEN)" > $$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/cc-generated.pth
	@touch $@

$(STAMP)/kafka: deploy/local/pom.xml
	@mkdir -p $(STAMP)
	deploy/local/kafka.sh fetch
	@touch $@

# deploy/k8s's offline checks (services/common/k8s_check.py): kustomize from the Go module proxy, the
# Strimzi operator's CRD schemas made by its own generator from its published API (deploy/k8s/schemas),
# and checkov in a venv of its own (its pins would fight the platform's).
KUSTOMIZE_VERSION := v5.7.1
CHECKOV_VERSION := 3.3.30
STRIMZI_CLASSES := kafka.Kafka nodepool.KafkaNodePool topic.KafkaTopic user.KafkaUser
$(STAMP)/k8s-tools: deploy/k8s/schemas/pom.xml
	@mkdir -p $(STAMP) .local/bin .local/k8s
	GOBIN=$(CURDIR)/.local/bin go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	rm -rf .local/k8s/strimzi-libs .local/k8s/crds
	mvn -q -f deploy/k8s/schemas/pom.xml dependency:copy-dependencies -DoutputDirectory=$(CURDIR)/.local/k8s/strimzi-libs
	java -cp '.local/k8s/strimzi-libs/*' io.strimzi.crdgenerator.CrdGenerator --yaml \
	  --api-versions v1beta2 --storage-version v1beta2 \
	  $(foreach c,$(STRIMZI_CLASSES),io.strimzi.api.kafka.model.$(c)=.local/k8s/crds/$(lastword $(subst ., ,$(c))).yaml) \
	  2> >(grep -v '^SLF4J' >&2)
	test -x .local/checkov/bin/checkov || python3 -m venv .local/checkov
	.local/checkov/bin/pip install -q --upgrade pip
	.local/checkov/bin/pip install -q checkov==$(CHECKOV_VERSION)
	@touch $@

# The only producer of generated protobuf/gRPC code; never edit or copy its output.
proto: $(GEN)/.stamp
$(GEN)/.stamp: $(PROTOS) $(STAMP)/venv
	rm -rf $(GEN) && mkdir -p $(GEN)
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) -m grpc_tools.protoc -Iproto --python_out=$(GEN) --grpc_python_out=$(GEN) \
	  --mypy_out=$(GEN) --mypy_grpc_out=$(GEN) $(PROTOS)
	find $(GEN)/cc $(GEN)/buf -type d -exec touch {}/__init__.py \;
	@touch $@

up: setup
	$(PY) -m services.platform up

down:
	@if [ -x $(PY) ]; then $(PY) -m services.platform down; else deploy/local/kafka.sh stop; fi

demo: setup
	$(PY) -m demo

test: setup
	$(PY) -m pytest -q tests/unit
	$(PY) -m pytest -q -x tests/integration tests/e2e

test-unit: setup
	$(PY) -m pytest -q tests/unit

lint: setup
	$(VENV)/bin/ruff check services tests bench demo
	$(VENV)/bin/ruff format --check services tests bench demo
	$(VENV)/bin/mypy
	$(VENV)/bin/hadolint Dockerfile

bench: setup
	$(PY) -m bench.routing_latency

# OfferCall over gRPC: one at a time, 64 in flight, 200/s offered; BENCH_PLATFORM=all for the whole platform.
bench-commands: setup
	$(PY) -m bench.commands

# deploy/k8s's generated manifests: KafkaTopics from the topic catalogue, workloads from the platform's processes.
k8s-manifests: setup
	$(PY) -m services.common.k8s_manifests deploy/k8s

# Every overlay rendered and checked against Kubernetes' and Strimzi's schemas, strictly (also in make test).
k8s-check: setup
	$(PY) -m services.common.k8s_check

# One image for every service (Dockerfile). Built where a container engine answers; linted either way.
IMAGE ?= cc-platform:dev
image: setup
	$(VENV)/bin/hadolint Dockerfile
	@if docker info >/dev/null 2>&1; then docker build -t $(IMAGE) .; \
	else echo "no container engine answers here: the Dockerfile is linted, not built"; fi

# The wallboard in Debian's Chromium: from a call queued over REST to its tile counting it.
bench-console: setup
	$(PY) -m bench.console

bench-idle: setup
	$(PY) -m bench.idle

# The whole stack at scale: 2,000 agents, calls over REST at 20/s for 2 min, lag 10 s after, then a ramp
# to the highest rate with decision p99 under 1 s (BENCH_AGENTS, BENCH_RATE, BENCH_SECONDS, BENCH_RAMP...).
bench-routing: setup
	$(PY) -m bench.routing

# The Kafka client's own CPU: aiokafka against confluent-kafka (librdkafka) on one broker (issue 5).
bench-kafka-clients: setup
	$(PY) -m bench.kafka_clients

# Time to SERVING and peak memory with 1M events in telephony's log, without and with snapshots.
bench-replay: setup
	$(PY) -m bench.replay

# Kafka -> analytics sink -> chDB with BENCH_EVENTS (200,000) waiting, against a raw chDB insert (P2).
bench-sink: setup
	$(PY) -m bench.sink

# A customer's journey at BENCH_EVENTS (10M) stored events against a raw keyed lookup of the same rows (AN-1).
bench-journey: setup
	$(PY) -m bench.journey

# The pure routing board at 2,000 agents and 500 waiting: board work and changelog bytes per event.
bench-board: setup
	$(PY) -m bench.board

# Faults while calls come in: kill -9 the broker, then each service, then pause the broker; prints what
# was accepted, lost, duplicated, left unended or missing from ClickHouse (CHAOS_FAULTS, CHAOS_CALLS).
# The routing simulator against Erlang C and Erlang A (issue 7); BENCH_CALLS calls per run.
bench-staffing: setup
	$(PY) -m bench.staffing

# Skills + expanding targets against skills alone and first in, first out to any agent (issue 7),
# in the simulator on bench/scenarios/two-sites.toml; BENCH_CALLS calls per run.
bench-strategies: setup
	$(PY) -m bench.strategies

chaos: setup
	$(PY) -m bench.chaos

clean: down
	rm -rf $(GEN) .local
