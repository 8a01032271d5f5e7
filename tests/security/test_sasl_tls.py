"""fraudd through a real broker's SASL_SSL listener (SCRAM-SHA-512, TLS with a CA the test made).

Run by tests/security/run_sasl_tls.sh, which makes the certificates and the SCRAM credential and
starts the broker with a PLAINTEXT listener (the test's own clients: feeder and checker) and a
SASL_SSL one (fraudd). Scenarios:

  good        fraudd connects with its username and password from ${VAR}s and the CA file:
              every record scored (an independent client reads input and output: 0 lost,
              0 duplicates), /readyz 200; the password is in no log line, not in
              `fraudd check-config`'s output and not in /metrics
  wrong-password, plaintext-to-tls, unknown-ca
              each a misconfiguration: fraudd stays up (no crash loop), is not ready
              (/readyz 503, fraudd_ready 0), says why in its log in words an operator can act on,
              scores nothing, never prints the password, and exits on SIGTERM

usage: test_sasl_tls.py FRAUDD   (env: FR_KAFKA_BOOTSTRAP, FR_KAFKA_DIR, FR_SASL_TEST_USER,
                                  FR_SASL_TEST_PASSWORD, FR_SASL_TEST_PKI)
"""
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import test_pipeline as tp  # noqa: E402  the integration suite's feeder, checker and daemon helpers

USER = os.environ.get("FR_SASL_TEST_USER", "")
PASSWORD = os.environ.get("FR_SASL_TEST_PASSWORD", "")
PKI = os.environ.get("FR_SASL_TEST_PKI", "")


def sasl_bootstrap():
    with open(os.path.join(os.environ["FR_KAFKA_DIR"], "xport")) as f:
        return "127.0.0.1:" + f.read().strip()


def write_config(name, topics, port, protocol="SASL_SSL", ca="ca.pem"):
    """tp.write_config for the SASL_SSL listener (group name, HTTP port port): the username and
    password from ${VAR}s, the CA file ca of the test's PKI."""
    security = f"""  properties:
    security.protocol: {protocol}
    sasl.mechanisms: SCRAM-SHA-512
    sasl.username: "${{FR_SASL_USER}}"
    sasl.password: "${{FR_SASL_PASSWORD}}"
    ssl.ca.location: "{os.path.join(PKI, ca)}"
"""
    return tp.write_config(name, name, topics, bootstrap=sasl_bootstrap(), extra_kafka=security, http_port=port)


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def log_text(d):
    with open(d.log_path, errors="replace") as f:
        return f.read()


def start(name, cfg, password):
    os.environ["FR_SASL_USER"] = USER
    os.environ["FR_SASL_PASSWORD"] = password
    return tp.Daemon(cfg, name)


def scenario_good():
    name = "sasl-good"
    topics = tp.topics_for(name)
    _, lines = tp.generate(5000, 41)
    ld = tp.Loader(topics[0])
    port = tp.free_port()
    cfg = write_config(name, topics, port)
    os.environ["FR_SASL_USER"], os.environ["FR_SASL_PASSWORD"] = USER, PASSWORD
    cc = subprocess.run([tp.FRAUDD, "check-config", cfg], capture_output=True, text=True)
    tp.check(cc.returncode == 0, f"{name}: check-config accepts the SASL_SSL config (rc {cc.returncode})")
    tp.check(PASSWORD not in cc.stdout + cc.stderr, f"{name}: check-config does not print the password")
    tp.check("[redacted]" in cc.stdout, f"{name}: check-config shows the password as [redacted]")
    d = start(name, cfg, PASSWORD)
    tp.check(d.wait_assigned(60), f"{name}: fraudd joined the group over SASL_SSL and got partitions")
    ld.produce(tp.keyed(lines, 5000), rate=5000)
    out = tp.read_topic(topics[1], 5000, 90)
    lost, dups, _ = tp.loss_and_dups(ld, out)
    tp.check(len(lost) == 0, f"{name}: every record has its result ({len(out)} results, {len(lost)} missing)")
    tp.check(dups == 0, f"{name}: no duplicates ({dups})")
    st, body = get(port, "/readyz") if port else (None, "")
    tp.check(st == 200, f"{name}: /readyz 200 ({st} {body.strip()})")
    st, metrics = get(port, "/metrics") if port else (None, "")
    tp.check(st == 200 and "fraudd_ready 1" in metrics, f"{name}: /metrics says fraudd_ready 1")
    tp.check(PASSWORD not in metrics, f"{name}: /metrics does not hold the password")
    rc = d.stop()
    tp.check(rc == 0, f"{name}: SIGTERM exits 0 (rc {rc})")
    tp.check(PASSWORD not in log_text(d), f"{name}: the password is in no log line")


def misconfigured(name, cfg_kwargs, password, want, what):
    """A misconfiguration: up, not ready, fraudd's own kafka_error line matching want, nothing
    scored, no secret."""
    topics = tp.topics_for(name)
    _, lines = tp.generate(200, 42)
    ld = tp.Loader(topics[0])
    ld.produce(tp.keyed(lines, 200))
    port = tp.free_port()
    d = start(name, write_config(name, topics, port, **cfg_kwargs), password)
    # long enough for librdkafka to try, fail and retry several times
    deadline = time.time() + 20
    said = None
    while time.time() < deadline and d.proc.poll() is None:
        said = next((e for e in d.events()
                     if e.get("event") == "kafka_error" and re.search(want, e.get("msg", ""))), None)
        if said and time.time() > deadline - 8:
            break
        time.sleep(0.5)
    alive = d.proc.poll() is None
    tp.check(alive, f"{name}: fraudd stays up ({what}): no crash, so no crash loop")
    tp.check(said is not None, f"{name}: the log says why: {said.get('event') + ': ' + said.get('msg')[:160] if said else 'nothing matching ' + want}")
    st, body = get(port, "/readyz") if port and alive else (None, "")
    tp.check(st == 503, f"{name}: not ready: /readyz {st} {body.strip()}")
    st, metrics = get(port, "/metrics") if port and alive else (None, "")
    tp.check("fraudd_ready 0" in metrics, f"{name}: /metrics says fraudd_ready 0")
    tp.check(password not in metrics, f"{name}: /metrics does not hold the password")
    out = tp.read_topic(topics[1], 1, 3)
    tp.check(len(out) == 0, f"{name}: nothing was scored ({len(out)} results)")
    rc = d.stop(signal.SIGTERM, timeout=40) if alive else d.proc.returncode
    tp.check(rc in (0, 1), f"{name}: SIGTERM ends it within the bound (rc {rc})")
    tp.check(password not in log_text(d), f"{name}: the password is in no log line")


def scenario_wrong_password():
    misconfigured("sasl-wrong-password", {}, "not-" + PASSWORD,
                  r"SASL authentication error: Authentication failed.*invalid credentials", "wrong password")


def scenario_plaintext_to_tls():
    misconfigured("sasl-plaintext-to-tls", {"protocol": "PLAINTEXT"}, PASSWORD,
                  r"incorrect security\.protocol configuration \(connecting to a SSL listener\?\)",
                  "a plaintext client against the TLS port")


def scenario_unknown_ca():
    misconfigured("sasl-unknown-ca", {"ca": "other.pem"}, PASSWORD, r"SSL handshake failed.*certificate verify failed",
                  "a CA that did not sign the broker")


SCENARIOS = {
    "good": scenario_good,
    "wrong-password": scenario_wrong_password,
    "plaintext-to-tls": scenario_plaintext_to_tls,
    "unknown-ca": scenario_unknown_ca,
}

if __name__ == "__main__":
    if not tp.BOOT or len(sys.argv) < 2 or not PASSWORD:
        sys.exit(__doc__)
    tp.FRAUDD = os.path.abspath(sys.argv[1])
    tp.run_scenarios("sasl_tls", [(s, SCENARIOS[s]) for s in sys.argv[2:] or list(SCENARIOS)], prefix="sasl_tls ")
