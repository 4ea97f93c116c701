#!/usr/bin/env bash
# Runs a single-node Apache Kafka 4.x broker (KRaft, broker+controller) as a local JVM process.
# The jars come from Maven Central through deploy/local/pom.xml; nothing is downloaded by URL.
#
#   deploy/local/kafka.sh fetch|format|start|wait|stop|status
#
# Environment (all optional):
#   KAFKA_PORT (9092)  KAFKA_CONTROLLER_PORT (KAFKA_PORT+1)  KAFKA_HOME (.local/kafka)
#   KAFKA_DATA_DIR ($KAFKA_HOME/data-$KAFKA_PORT)  KAFKA_LOG (.local/logs/kafka-$KAFKA_PORT.log)
#   KAFKA_HEAP (1g)  KAFKA_JVM_OPTS (extra JVM flags, e.g. -XX:TieredStopAtLevel=4 or a JFR recording)
#   KAFKA_TLS_DIR: also listen for TLS clients with certificates, as on a cluster (Strimzi's tls listener
#     with tls authentication): KAFKA_TLS_PORT (KAFKA_PORT+2), the CA in $KAFKA_TLS_DIR/ca.crt, the
#     broker's key and certificate in $KAFKA_TLS_DIR/broker.pem; ACLs are then enforced for everyone but
#     the plain listener's (ANONYMOUS, the harness that creates topics and ACLs); KAFKA_ACL_AUDIT=1 allows
#     what no ACL names and logs every decision instead (kafka.authorizer.logger), to learn what is used.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
port=${KAFKA_PORT:-9092}
controller_port=${KAFKA_CONTROLLER_PORT:-$((port + 1))}
home=${KAFKA_HOME:-$root/.local/kafka}
data=${KAFKA_DATA_DIR:-$home/data-$port}
log=${KAFKA_LOG:-$root/.local/logs/kafka-$port.log}
pidfile=$data/broker.pid
config=$data/server.properties

java_cmd() {
  java -Xmx256m -XX:+UseG1GC \
    "-Dlog4j2.configurationFile=$root/deploy/local/log4j2.properties" \
    -cp "$home/libs/*" "$@"
}

fetch() {
  if ls "$home/libs"/kafka_2.13-*.jar >/dev/null 2>&1; then return 0; fi
  mkdir -p "$home/libs"
  mvn -q -B -f "$root/deploy/local/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$home/libs"
}

write_config() {
  mkdir -p "$data/log"
  local listeners="PLAINTEXT://127.0.0.1:$port" protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  if [ -n "${KAFKA_TLS_DIR:-}" ]; then
    listeners="$listeners,SSL://127.0.0.1:${KAFKA_TLS_PORT:-$((port + 2))}"
    protocols="$protocols,SSL:SSL"
  fi
  cat >"$config" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=$listeners,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
listener.security.protocol.map=$protocols
inter.broker.listener.name=PLAINTEXT
log.dirs=$data/log
# The platform creates every topic itself with explicit partition counts.
auto.create.topics.enable=false
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=-1
CONF
  if [ -n "${KAFKA_TLS_DIR:-}" ]; then
    cat >>"$config" <<CONF
ssl.keystore.type=PEM
ssl.keystore.location=$KAFKA_TLS_DIR/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$KAFKA_TLS_DIR/ca.crt
ssl.client.auth=required
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=$([ "${KAFKA_ACL_AUDIT:-}" = 1 ] && echo true || echo false)
CONF
  fi
}

format() {
  fetch
  if [ -f "$data/log/meta.properties" ]; then return 0; fi
  write_config
  local cluster_id
  cluster_id=$(java_cmd kafka.tools.StorageTool random-uuid | tail -n 1)
  java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$config" >/dev/null
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

start() {
  format
  if running; then echo "kafka already running on 127.0.0.1:$port (pid $(cat "$pidfile"))"; return 0; fi
  mkdir -p "$(dirname "$log")"
  : >"$log"
  # Kafka's own defaults (kafka-run-class.sh): a fixed heap and G1 aiming at 20 ms pauses. With a 512 MiB
  # heap that grew on demand, young collections of 20-100 ms landed in the routing path's p99.
  # Only the quick JIT (C1): a fresh broker's C2 compiler threads took about half of its CPU for minutes
  # (0.63 of its 1.28 cores under bare transactions, still 0.2-0.27 after 4,000 of them), and every test
  # run and benchmark here starts a fresh broker on two cores. Measured with bench.kafka_clients'
  # librdkafka_transactions, one per transaction: 18.5-19.8 ms of broker CPU per transaction in the first
  # thousands with C2, 7.4 with C1 from the start; settled, 6.6-6.8 against 6.3-7.5. A long-lived broker
  # may want C2 back: KAFKA_JVM_OPTS=-XX:TieredStopAtLevel=4 (a later flag wins).
  nohup bash -c "exec java -Xms${KAFKA_HEAP:-1g} -Xmx${KAFKA_HEAP:-1g} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:TieredStopAtLevel=1 \
    ${KAFKA_JVM_OPTS:-} \
    -Dlog4j2.configurationFile=$root/deploy/local/log4j2.properties$([ "${KAFKA_ACL_AUDIT:-}" = 1 ] && echo ",$root/deploy/local/log4j2-audit.properties") \
    -cp '$home/libs/*' kafka.Kafka '$config'" >>"$log" 2>&1 &
  echo $! >"$pidfile"
  wait_ready
}

wait_ready() {
  local deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-90}))
  until grep -q "Kafka Server started" "$log" 2>/dev/null; do
    if ! running; then echo "kafka exited during start; see $log" >&2; tail -n 30 "$log" >&2; return 1; fi
    if [ $SECONDS -ge $deadline ]; then echo "kafka did not start in time; see $log" >&2; return 1; fi
    sleep 0.5
  done
  echo "kafka ready on 127.0.0.1:$port"
}

stop() {
  if ! running; then rm -f "$pidfile"; return 0; fi
  local pid; pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

case "${1:-}" in
  fetch) fetch ;;
  format) format ;;
  start) start ;;
  wait) wait_ready ;;
  stop) stop ;;
  status) if running; then echo "running (pid $(cat "$pidfile"))"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 fetch|format|start|wait|stop|status" >&2; exit 2 ;;
esac
