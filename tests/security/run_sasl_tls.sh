#!/usr/bin/env bash
# fraudd against a real broker's SASL_SSL listener (SCRAM-SHA-512 over TLS):
#   tests/security/run_sasl_tls.sh FRAUDD
# Makes a CA and a broker certificate with openssl (PKCS#12 keystore for the broker, the CA's
# PEM for fraudd), starts a one-node broker (scripts/kafka.sh) with a SASL_SSL listener beside
# its PLAINTEXT one and a SCRAM credential written at format time, then runs
# tests/security/test_sasl_tls.py. Everything lives in a temp dir and goes with it.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
fraudd=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
# shellcheck source=../../scripts/lib.sh
. "$here/scripts/lib.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fraudd-sasl.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pki=$tmp/pki
mkdir -p "$pki"
store_pw=$(openssl rand -hex 12)
# the CA, and the broker's key and certificate for 127.0.0.1 signed by it
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=fraudd test CA" \
  -keyout "$pki/ca.key" -out "$pki/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$pki/broker.key" -out "$pki/broker.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$pki/san.ext"
openssl x509 -req -in "$pki/broker.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial -days 2 \
  -extfile "$pki/san.ext" -out "$pki/broker.pem" 2>/dev/null
openssl pkcs12 -export -in "$pki/broker.pem" -inkey "$pki/broker.key" -name broker \
  -passout "pass:$store_pw" -out "$pki/broker.p12"
# a second CA that did not sign the broker: a client trusting only it must refuse the broker
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other CA" \
  -keyout "$pki/other.key" -out "$pki/other.pem" 2>/dev/null

user=fraudd-svc
password=$(openssl rand -hex 16)
cat > "$tmp/sasl.properties" <<EOF
listeners=PLAINTEXT://127.0.0.1:@PORT@,CONTROLLER://127.0.0.1:@CPORT@,SASL_SSL://127.0.0.1:@XPORT@
advertised.listeners=PLAINTEXT://127.0.0.1:@PORT@,SASL_SSL://127.0.0.1:@XPORT@
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PKCS12
listener.name.sasl_ssl.ssl.keystore.location=$pki/broker.p12
listener.name.sasl_ssl.ssl.keystore.password=$store_pw
listener.name.sasl_ssl.ssl.key.password=$store_pw
EOF
export FR_KAFKA_EXTRA_CONFIG=$tmp/sasl.properties
export FR_KAFKA_FORMAT_ARGS="--add-scram SCRAM-SHA-512=[name=$user,password=$password]"
export FR_SASL_TEST_USER=$user FR_SASL_TEST_PASSWORD=$password FR_SASL_TEST_PKI=$pki
"$here/scripts/kafka.sh" with "$(kafka_version)" -- \
  "$here/.venv/bin/python" "$here/tests/security/test_sasl_tls.py" "$fraudd"
