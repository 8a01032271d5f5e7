package k8s

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var update = flag.Bool("update", false, "regenerate k8s/base/prometheusrule.yaml from monitoring/alerts.yaml")

const (
	root       = "../.."
	alertsFile = root + "/monitoring/alerts.yaml"
	ruleFile   = root + "/k8s/base/prometheusrule.yaml"
)

// kustomizations are those `kubectl apply -k` is meant for: the base and every
// overlay, so a new overlay is checked without being listed here.
func kustomizations(t *testing.T) []string {
	dirs := []string{"k8s/base"}
	overlays, _ := filepath.Glob(filepath.Join(root, "k8s/overlays/*/kustomization.yaml"))
	for _, o := range overlays {
		rel, _ := filepath.Rel(root, filepath.Dir(o))
		dirs = append(dirs, rel)
	}
	if len(dirs) < 2 {
		t.Fatal("no k8s/overlays/*/kustomization.yaml")
	}
	return dirs
}

func mustLoad(t *testing.T, dir string) *manifests {
	t.Helper()
	m, err := load(filepath.Join(root, dir), alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestManifests builds each kustomization, decodes it strictly and runs every
// check as its own subtest.
func TestManifests(t *testing.T) {
	for _, dir := range kustomizations(t) {
		t.Run(dir, func(t *testing.T) {
			m := mustLoad(t, dir)
			for _, c := range checks {
				t.Run(c.name, func(t *testing.T) {
					for _, p := range c.run(m) {
						t.Error(p)
					}
				})
			}
			t.Run("configmap/check-config", func(t *testing.T) { checkConfigWithFraudd(t, m) })
		})
	}
}

// checkConfigWithFraudd runs `$FRAUDD check-config` on the ConfigMap's
// fraudd.yaml with the container's env (literal values, the Secret example's
// values, stand-in values for fieldRefs), as the pod would load it.
func checkConfigWithFraudd(t *testing.T, m *manifests) {
	bin := os.Getenv("FRAUDD")
	if bin == "" {
		t.Skip("skipped: FRAUDD (a fraudd binary for check-config) is not set")
	}
	text, err := configText(m)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "fraudd.yaml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	env, problems := envValues(m)
	for _, p := range problems {
		t.Error(p)
	}
	cmd := exec.Command(bin, "check-config", file, "--quiet")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s check-config: %v\n%s", bin, err, out.String())
	}
	t.Logf("%s", strings.TrimSpace(out.String()))
}

// TestStrictDecoderRejects proves the decoder is strict: each file in
// testdata/invalid is a manifest with one mistake, and its first line says
// which error it must give ("# want: ...").
func TestStrictDecoderRejects(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata/invalid/*.yaml")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			text, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(text), "\n")
			want, ok := strings.CutPrefix(first, "# want: ")
			if !ok {
				t.Fatal(`first line is not "# want: <error text>"`)
			}
			_, err = decodeStrict(text)
			if err == nil {
				t.Fatalf("decoded without error, want %q", want)
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not contain %q", err, want)
			}
			t.Logf("rejected: %v", err)
		})
	}
}

// TestBuildRejectsTypoInPatch: kustomize passes unknown fields through, so a
// misspelled field in an overlay's patch must be caught by the decode after
// the build, which is what TestManifests runs.
func TestBuildRejectsTypoInPatch(t *testing.T) {
	_, err := build("testdata/typo-overlay")
	if err == nil || !strings.Contains(err.Error(), `unknown field "spec.template.spec.containers[0].readinesProbe"`) {
		t.Fatalf("build error %v, want the unknown field readinesProbe", err)
	}
	t.Logf("rejected: %v", err)
}

// TestBuildRejectsBrokenKustomization: a kustomization error fails the build.
func TestBuildRejectsBrokenKustomization(t *testing.T) {
	_, err := build("testdata/broken-kustomization")
	if err == nil {
		t.Fatal("a kustomization naming a missing file built")
	}
	t.Logf("rejected: %v", err)
}

// TestChecksCatchBrokenManifests proves the checks are not vacuous: each case
// breaks one rule in a freshly built kustomization and expects its check to
// say so.
func TestChecksCatchBrokenManifests(t *testing.T) {
	i32 := func(v int32) *int32 { return &v }
	i64 := func(v int64) *int64 { return &v }
	f := false
	const keda = "k8s/overlays/keda-lag-example"
	cases := []struct {
		name, dir, check, want string
		breakIt                func(m *manifests)
	}{
		{"grace at the drain bound", "k8s/base", "deployment/termination-grace", "does not exceed",
			func(m *manifests) { m.deployments[0].Spec.Template.Spec.TerminationGracePeriodSeconds = i64(10) }},
		{"drain raised above the grace period", "k8s/base", "deployment/termination-grace", "shutdown_timeout_ms 25000",
			func(m *manifests) {
				for _, cm := range m.configMaps {
					cm.Data["fraudd.yaml"] = strings.Replace(cm.Data["fraudd.yaml"], "shutdown_timeout_ms: 10000", "shutdown_timeout_ms: 25000", 1)
				}
			}},
		{"image without a fixed tag", "k8s/overlays/production-example", "deployment/command", "no fixed tag",
			func(m *manifests) {
				m.deployments[0].Spec.Template.Spec.Containers[0].Image = "registry.example.com/fraud/fraudd:latest"
			}},
		{"liveness that gives up in 4 s", "k8s/base", "deployment/probes", "less than 20 s",
			func(m *manifests) {
				lp := m.deployments[0].Spec.Template.Spec.Containers[0].LivenessProbe
				lp.PeriodSeconds, lp.FailureThreshold = 2, 2
			}},
		{"readiness on /healthz", "k8s/base", "deployment/probes", "readinessProbe: path /healthz",
			func(m *manifests) {
				m.deployments[0].Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Path = "/healthz"
			}},
		{"probe on a port that is not http.port", "k8s/base", "deployment/probes", "livenessProbe: port 9090",
			func(m *manifests) {
				m.deployments[0].Spec.Template.Spec.Containers[0].LivenessProbe.HTTPGet.Port = intstr.FromInt32(9090)
			}},
		{"writable root filesystem", "k8s/base", "deployment/security-context", "readOnlyRootFilesystem",
			func(m *manifests) {
				m.deployments[0].Spec.Template.Spec.Containers[0].SecurityContext.ReadOnlyRootFilesystem = &f
			}},
		{"capability added", "k8s/base", "deployment/security-context", "capabilities.add",
			func(m *manifests) {
				m.deployments[0].Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"}
			}},
		{"no memory limit", "k8s/base", "deployment/resources", "memory: want both",
			func(m *manifests) {
				delete(m.deployments[0].Spec.Template.Spec.Containers[0].Resources.Limits, corev1.ResourceMemory)
			}},
		{"fractional CPU limit with workers 0", "k8s/base", "deployment/resources", "not a whole number",
			func(m *manifests) {
				m.deployments[0].Spec.Template.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU] = resource.MustParse("1500m")
			}},
		{"replicas fixed beside the HPA", "k8s/base", "deployment/rollout", "spec.replicas is set",
			func(m *manifests) { m.deployments[0].Spec.Replicas = i32(3) }},
		{"spread that blocks scheduling", "k8s/base", "deployment/topology-spread", "ScheduleAnyway",
			func(m *manifests) {
				m.deployments[0].Spec.Template.Spec.TopologySpreadConstraints[0].WhenUnsatisfiable = corev1.DoNotSchedule
			}},
		{"maxReplicas at the partition count", "k8s/base", "hpa", "exceeds the 12 input partitions",
			func(m *manifests) { m.hpas[0].Spec.MaxReplicas = 12 }},
		{"no scale-down stabilization", "k8s/base", "hpa", "stabilizationWindowSeconds",
			func(m *manifests) { m.hpas[0].Spec.Behavior.ScaleDown.StabilizationWindowSeconds = nil }},
		{"aggressive scale-down", "k8s/base", "hpa", "not conservative",
			func(m *manifests) {
				m.hpas[0].Spec.Behavior.ScaleDown.Policies = []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}
			}},
		{"topic changed without the partitions", "k8s/base", "hpa", "is not kafka.input_topic",
			func(m *manifests) {
				for _, cm := range m.configMaps {
					cm.Data["fraudd.yaml"] = strings.Replace(cm.Data["fraudd.yaml"], "input_topic: transactions", "input_topic: payments", 1)
				}
			}},
		{"PDB selecting nothing", "k8s/base", "pdb", "does not select",
			func(m *manifests) { m.pdbs[0].Spec.Selector.MatchLabels = map[string]string{"app": "other"} }},
		{"Service port to the wrong container port", "k8s/base", "service", "targetPort",
			func(m *manifests) { m.services[0].Spec.Ports[0].TargetPort = intstr.FromString("metrics") }},
		{"ServiceMonitor on the wrong port", "k8s/base", "servicemonitor", "port name",
			func(m *manifests) { m.serviceMonitors[0].Spec.Endpoints[0].Port = "http" }},
		{"ServiceMonitor selecting another Service", "k8s/base", "servicemonitor", "does not select",
			func(m *manifests) {
				m.serviceMonitors[0].Spec.Selector.MatchLabels["app.kubernetes.io/component"] = "scorer"
			}},
		{"alert edited only in the PrometheusRule", "k8s/base", "prometheusrule", "differs from",
			func(m *manifests) { m.rules[0].Spec.Groups[0].Rules[0].Expr = intstr.FromString("fraudd_ready < 1") }},
		{"secret key missing from the example", "k8s/overlays/production-example", "deployment/env-and-secrets", `no key "passwd"`,
			func(m *manifests) {
				for i := range m.deployments[0].Spec.Template.Spec.Containers[0].Env {
					if e := &m.deployments[0].Spec.Template.Spec.Containers[0].Env[i]; e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Key == "password" {
						e.ValueFrom.SecretKeyRef.Key = "passwd"
					}
				}
			}},
		{"config variable the env does not set", "k8s/overlays/production-example", "deployment/env-and-secrets", "${KAFKA_SASL_USERNAME}",
			func(m *manifests) {
				c := &m.deployments[0].Spec.Template.Spec.Containers[0]
				for i, e := range c.Env {
					if e.Name == "KAFKA_SASL_USERNAME" {
						c.Env = append(c.Env[:i], c.Env[i+1:]...)
						break
					}
				}
			}},
		{"Secret applied with the overlay", "k8s/overlays/production-example", "objects", "overwrite the real credentials",
			func(m *manifests) { m.secrets = append(m.secrets, m.secretExamples[0]) }},
		// the KEDA overlay: the CPU HPA's rules, and the trigger against fraudd's config
		{"maxReplicaCount at the partition count", keda, "scaledobject", "maxReplicaCount 24 + maxSurge 1 exceeds the 24 input partitions",
			func(m *manifests) { m.scaledObjects[0].Spec.MaxReplicaCount = i32(24) }},
		{"the CPU HPA kept beside the ScaledObject", keda, "scaledobject", "two HPAs on one Deployment fight",
			func(m *manifests) {
				prod, err := load(filepath.Join(root, "k8s/overlays/production-example"), alertsFile)
				if err == nil {
					m.hpas = append(m.hpas, prod.hpas...)
				}
			}},
		{"trigger on another topic", keda, "scaledobject", `trigger topic "payments" is not kafka.input_topic "transactions"`,
			func(m *manifests) { m.scaledObjects[0].Spec.Triggers[0].Metadata["topic"] = "payments" }},
		{"input topic changed without the trigger", keda, "scaledobject", `trigger topic "transactions" is not kafka.input_topic "payments"`,
			func(m *manifests) {
				for _, cm := range m.configMaps {
					cm.Data["fraudd.yaml"] = strings.Replace(cm.Data["fraudd.yaml"], "input_topic: transactions", "input_topic: payments", 1)
				}
			}},
		{"trigger on another group", keda, "scaledobject", `consumerGroup "fraudd-canary" is not kafka.group_id "fraudd"`,
			func(m *manifests) { m.scaledObjects[0].Spec.Triggers[0].Metadata["consumerGroup"] = "fraudd-canary" }},
		{"trigger on other brokers", keda, "scaledobject", "are not kafka.bootstrap_servers",
			func(m *manifests) {
				md := m.scaledObjects[0].Spec.Triggers[0].Metadata
				delete(md, "bootstrapServersFromEnv")
				md["bootstrapServers"] = "kafka-0.kafka.example.internal:9096"
			}},
		{"bootstrap from a variable the container lacks", keda, "scaledobject", "container fraudd has no variable KAFKA_BROKERS",
			func(m *manifests) {
				m.scaledObjects[0].Spec.Triggers[0].Metadata["bootstrapServersFromEnv"] = "KAFKA_BROKERS"
			}},
		{"misspelled trigger parameter", keda, "scaledobject", `"lagTreshold" is not a parameter of KEDA's kafka scaler`,
			func(m *manifests) {
				md := m.scaledObjects[0].Spec.Triggers[0].Metadata
				md["lagTreshold"] = md["lagThreshold"]
				delete(md, "lagThreshold")
			}},
		{"trigger value KEDA's parser refuses", keda, "scaledobject", "KEDA's kafka scaler: ",
			func(m *manifests) { m.scaledObjects[0].Spec.Triggers[0].Metadata["offsetResetPolicy"] = "earliset" }},
		{"offsetResetPolicy latest", keda, "scaledobject", "offsetResetPolicy latest is not fraudd's auto.offset.reset earliest",
			func(m *manifests) { m.scaledObjects[0].Spec.Triggers[0].Metadata["offsetResetPolicy"] = "latest" }},
		{"idle consumers allowed", keda, "scaledobject", "allowIdleConsumers is true",
			func(m *manifests) { m.scaledObjects[0].Spec.Triggers[0].Metadata["allowIdleConsumers"] = "true" }},
		{"scale to zero", keda, "scaledobject", "minReplicaCount is not set to at least 1",
			func(m *manifests) { m.scaledObjects[0].Spec.MinReplicaCount = i32(0) }},
		{"min above max", keda, "scaledobject", "KEDA's admission check: MinReplicaCount=3 must be less than MaxReplicaCount=2",
			func(m *manifests) { m.scaledObjects[0].Spec.MaxReplicaCount = i32(2) }},
		{"ScaledObject without scale-down stabilization", keda, "scaledobject", "stabilizationWindowSeconds",
			func(m *manifests) {
				m.scaledObjects[0].Spec.Advanced.HorizontalPodAutoscalerConfig.Behavior.ScaleDown.StabilizationWindowSeconds = nil
			}},
		{"ScaledObject scaling another Deployment", keda, "scaledobject", "is not the Deployment fraudd",
			func(m *manifests) { m.scaledObjects[0].Spec.ScaleTargetRef.Name = "fraudd-canary" }},
		{"TriggerAuthentication reading a key the Secret lacks", keda, "scaledobject", `no key "user"`,
			func(m *manifests) { m.triggerAuths[0].Spec.SecretTargetRef[0].Key = "user" }},
		{"TriggerAuthentication missing", keda, "scaledobject", "no TriggerAuthentication of that name",
			func(m *manifests) { m.triggerAuths = nil }},
		{"SASL mechanism other than fraudd's", keda, "scaledobject/kafka-auth", "fraudd's sasl.mechanisms SCRAM-SHA-512",
			func(m *manifests) { m.scaledObjects[0].Spec.Triggers[0].Metadata["sasl"] = "scram_sha256" }},
		{"KEDA without TLS where fraudd uses it", keda, "scaledobject/kafka-auth", "fraudd's security.protocol is SASL_SSL",
			func(m *manifests) { m.scaledObjects[0].Spec.Triggers[0].Metadata["tls"] = "disable" }},
		{"KEDA without a SASL password", keda, "scaledobject/kafka-auth", "no password for SASL SCRAM-SHA-512",
			func(m *manifests) {
				m.triggerAuths[0].Spec.SecretTargetRef = m.triggerAuths[0].Spec.SecretTargetRef[:1]
			}},
		{"KEDA with fraudd's Secret but another key", keda, "scaledobject/kafka-auth", "username, from Secret fraudd-kafka-sasl, is not fraudd's sasl.username",
			func(m *manifests) { m.triggerAuths[0].Spec.SecretTargetRef[0].Key = "password" }},
	}
	byName := map[string]check{}
	for _, c := range checks {
		byName[c.name] = c
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := mustLoad(t, tc.dir)
			c, ok := byName[tc.check]
			if !ok {
				t.Fatalf("no check %q", tc.check)
			}
			if p := c.run(m); len(p) > 0 {
				t.Fatalf("%s fails before the change: %v", tc.check, p)
			}
			tc.breakIt(m)
			p := c.run(m)
			if !strings.Contains(strings.Join(p, "\n"), tc.want) {
				t.Fatalf("%s reported %q, want a problem containing %q", tc.check, p, tc.want)
			}
			t.Logf("%s: %s", tc.check, strings.Join(p, "; "))
		})
	}
}

// TestPrometheusRuleFile: k8s/base/prometheusrule.yaml is monitoring/alerts.yaml
// wrapped in a PrometheusRule (checks.go compares the parsed groups; this
// compares the text, so comments and layout cannot drift either). -update
// rewrites it.
func TestPrometheusRuleFile(t *testing.T) {
	alerts, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	want, err := prometheusRule(alerts)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(ruleFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(ruleFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, want) {
		t.Fatalf("%s is not generated from %s: run (cd tests/k8s && go test -run TestPrometheusRuleFile . -update)", ruleFile, alertsFile)
	}
}

// prometheusRule wraps the rule file's groups, as they are written, in a
// PrometheusRule.
func prometheusRule(alerts []byte) ([]byte, error) {
	i := bytes.Index(alerts, []byte("\ngroups:\n"))
	if i < 0 {
		return nil, fmt.Errorf("%s: no top-level groups:", alertsFile)
	}
	var b bytes.Buffer
	b.WriteString(`# Generated from monitoring/alerts.yaml by tests/k8s (go test -run TestPrometheusRuleFile . -update);
# do not edit: change monitoring/alerts.yaml (promtool checks and unit-tests it) and regenerate.
# Your Prometheus may select rules by a label (ruleSelector): add it in the overlay.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: fraudd
  labels:
    app.kubernetes.io/name: fraudd
    app.kubernetes.io/instance: fraudd
spec:
`)
	for _, line := range strings.SplitAfter(string(alerts[i+1:]), "\n") {
		if strings.TrimSpace(line) != "" {
			b.WriteString("  ")
		}
		b.WriteString(line)
	}
	return b.Bytes(), nil
}
