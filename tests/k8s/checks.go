package k8s

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	monv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

const (
	// the image's user (docker/Dockerfile)
	imageUID = 10001
	// what fraudd's container runs, and where its ConfigMap is mounted
	configPath = "/etc/fraudd/fraudd.yaml"
	// time after the drain for the producer flush, the final commit and leaving
	// the group before the kubelet's SIGKILL
	graceSlackSeconds = 10
	// partitions the HPA's maxReplicas (the ScaledObject's maxReplicaCount) is
	// checked against
	partitionsAnnotation = "fraudd.io/input-partitions"
	topicAnnotation      = "fraudd.io/input-topic"
)

// manifests is one rendered kustomization, by kind, plus the Secret examples
// that sit beside it (not applied, so real credentials are never overwritten).
type manifests struct {
	deployments     []*appsv1.Deployment
	configMaps      []*corev1.ConfigMap
	secrets         []*corev1.Secret
	services        []*corev1.Service
	hpas            []*autoscalingv2.HorizontalPodAutoscaler
	pdbs            []*policyv1.PodDisruptionBudget
	serviceMonitors []*monv1.ServiceMonitor
	rules           []*monv1.PrometheusRule
	scaledObjects   []*kedav1alpha1.ScaledObject
	triggerAuths    []*kedav1alpha1.TriggerAuthentication
	secretExamples  []*corev1.Secret
	alertsFile      string // monitoring/alerts.yaml, which the PrometheusRule must equal
}

func sortObjects(objs []any) *manifests {
	m := &manifests{}
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.Deployment:
			m.deployments = append(m.deployments, o)
		case *corev1.ConfigMap:
			m.configMaps = append(m.configMaps, o)
		case *corev1.Secret:
			m.secrets = append(m.secrets, o)
		case *corev1.Service:
			m.services = append(m.services, o)
		case *autoscalingv2.HorizontalPodAutoscaler:
			m.hpas = append(m.hpas, o)
		case *policyv1.PodDisruptionBudget:
			m.pdbs = append(m.pdbs, o)
		case *monv1.ServiceMonitor:
			m.serviceMonitors = append(m.serviceMonitors, o)
		case *monv1.PrometheusRule:
			m.rules = append(m.rules, o)
		case *kedav1alpha1.ScaledObject:
			m.scaledObjects = append(m.scaledObjects, o)
		case *kedav1alpha1.TriggerAuthentication:
			m.triggerAuths = append(m.triggerAuths, o)
		}
	}
	return m
}

// load builds dir and decodes the *.secret.example.yaml files beside its
// kustomization.yaml and beside the kustomizations it builds on (an overlay of
// the production example reads the same Secret).
func load(dir, alertsFile string) (*manifests, error) {
	objs, err := build(dir)
	if err != nil {
		return nil, err
	}
	m := sortObjects(objs)
	m.alertsFile = alertsFile
	var examples []string
	for _, d := range kustomizationChain(dir) {
		more, _ := filepath.Glob(filepath.Join(d, "*.secret.example.yaml"))
		examples = append(examples, more...)
	}
	for _, f := range examples {
		o, err := decodeFile(f)
		if err != nil {
			return nil, err
		}
		s, ok := o.(*corev1.Secret)
		if !ok {
			return nil, fmt.Errorf("%s: not a Secret", f)
		}
		m.secretExamples = append(m.secretExamples, s)
	}
	return m, nil
}

// kustomizationChain is dir and, depth first, every local kustomization
// directory its resources name (the build itself has already checked them).
func kustomizationChain(dir string) []string {
	dirs := []string{dir}
	text, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return dirs
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if yaml.Unmarshal(text, &k) != nil {
		return dirs
	}
	for _, r := range k.Resources {
		sub := filepath.Join(dir, r)
		if _, err := os.Stat(filepath.Join(sub, "kustomization.yaml")); err == nil {
			dirs = append(dirs, kustomizationChain(sub)...)
		}
	}
	return dirs
}

// check is one rule; it returns what is wrong, nothing when the manifests keep it.
type check struct {
	name string
	run  func(m *manifests) []string
}

var checks = []check{
	{"objects", checkObjects},
	{"deployment/command", checkCommand},
	{"deployment/probes", checkProbes},
	{"deployment/security-context", checkSecurity},
	{"deployment/resources", checkResources},
	{"deployment/termination-grace", checkGrace},
	{"deployment/rollout", checkRollout},
	{"deployment/topology-spread", checkSpread},
	{"deployment/env-and-secrets", checkEnv},
	{"configmap/config", checkConfig},
	{"hpa", checkHPA},
	{"scaledobject", checkScaledObject},
	{"scaledobject/kafka-auth", checkScaledObjectAuth},
	{"pdb", checkPDB},
	{"service", checkService},
	{"servicemonitor", checkServiceMonitor},
	{"prometheusrule", checkPrometheusRule},
}

func checkObjects(m *manifests) []string {
	var p []string
	one := func(kind string, n int) {
		if n != 1 {
			p = append(p, fmt.Sprintf("want exactly one %s, have %d", kind, n))
		}
	}
	one("Deployment", len(m.deployments))
	one("Service", len(m.services))
	// one autoscaler: the CPU HPA, or KEDA's ScaledObject (which makes its own
	// HPA; checkScaledObject refuses a second one on the Deployment)
	if len(m.scaledObjects) > 0 {
		one("ScaledObject", len(m.scaledObjects))
	} else {
		one("HorizontalPodAutoscaler", len(m.hpas))
	}
	one("PodDisruptionBudget", len(m.pdbs))
	one("ServiceMonitor", len(m.serviceMonitors))
	one("PrometheusRule", len(m.rules))
	if len(m.configMaps) == 0 {
		p = append(p, "no ConfigMap")
	}
	if len(m.secrets) > 0 {
		p = append(p, "a Secret is part of the build: applying it would overwrite the real credentials; keep it as a *.secret.example.yaml beside the kustomization")
	}
	return p
}

// The single Deployment and its fraudd container; the checks below assume
// checkObjects passed and report a missing container as a problem.
func deployment(m *manifests) *appsv1.Deployment {
	if len(m.deployments) == 0 {
		return &appsv1.Deployment{}
	}
	return m.deployments[0]
}

func container(m *manifests) (*corev1.Container, []string) {
	d := deployment(m)
	for i := range d.Spec.Template.Spec.Containers {
		if c := &d.Spec.Template.Spec.Containers[i]; c.Name == "fraudd" {
			return c, nil
		}
	}
	return &corev1.Container{}, []string{"no container named fraudd"}
}

func checkCommand(m *manifests) []string {
	c, p := container(m)
	if _, tag, ok := strings.Cut(path.Base(c.Image), ":"); !ok || tag == "latest" {
		p = append(p, fmt.Sprintf("image %q has no fixed tag", c.Image))
	}
	want := []string{"run", "--config", configPath}
	if !slices.Equal(c.Args, want) {
		p = append(p, fmt.Sprintf("args %q, want %q (the image's entrypoint is fraudd)", c.Args, want))
	}
	if len(c.Command) > 0 {
		p = append(p, fmt.Sprintf("command %q overrides the image's entrypoint", c.Command))
	}
	if _, err := configText(m); err != nil {
		p = append(p, err.Error())
	}
	return p
}

// configText follows --config through the container's volume mounts to the
// ConfigMap key it reads.
func configText(m *manifests) (string, error) {
	c, _ := container(m)
	d := deployment(m)
	for _, vm := range c.VolumeMounts {
		if path.Dir(configPath) != path.Clean(vm.MountPath) {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name != vm.Name || v.ConfigMap == nil {
				continue
			}
			for _, cm := range m.configMaps {
				if cm.Name == v.ConfigMap.Name {
					text, ok := cm.Data[path.Base(configPath)]
					if !ok {
						return "", fmt.Errorf("ConfigMap %s has no key %s", cm.Name, path.Base(configPath))
					}
					return text, nil
				}
			}
			return "", fmt.Errorf("volume %s: ConfigMap %s is not in the build", v.Name, v.ConfigMap.Name)
		}
	}
	return "", fmt.Errorf("no ConfigMap volume mounted at %s", path.Dir(configPath))
}

// containerPort resolves a probe's or Service's port (name or number) to the
// container's port number, 0 when it names no port of the container.
func containerPort(c *corev1.Container, port intstr.IntOrString) int32 {
	for _, cp := range c.Ports {
		if (port.Type == intstr.String && cp.Name == port.StrVal) || (port.Type == intstr.Int && cp.ContainerPort == port.IntVal) {
			return cp.ContainerPort
		}
	}
	return 0
}

func checkProbes(m *manifests) []string {
	c, p := container(m)
	cfg, err := loadConfig(m)
	if err != nil {
		return append(p, err.Error())
	}
	port := cfg.int("http.port", 8080)
	probe := func(name string, pr *corev1.Probe, wantPath string) {
		switch {
		case pr == nil:
			p = append(p, name+": missing")
		case pr.HTTPGet == nil:
			p = append(p, name+": not an httpGet probe")
		case pr.HTTPGet.Path != wantPath:
			p = append(p, fmt.Sprintf("%s: path %s, want %s", name, pr.HTTPGet.Path, wantPath))
		case int64(containerPort(c, pr.HTTPGet.Port)) != port:
			p = append(p, fmt.Sprintf("%s: port %s is not the container port of http.port %d", name, pr.HTTPGet.Port.String(), port))
		}
	}
	probe("livenessProbe", c.LivenessProbe, "/healthz")
	probe("readinessProbe", c.ReadinessProbe, "/readyz")
	probe("startupProbe", c.StartupProbe, "/healthz")
	// /healthz fails after 10 s without progress: a liveness probe that gives up
	// sooner would restart a pod that is only slow
	if lp := c.LivenessProbe; lp != nil {
		period, failures := lp.PeriodSeconds, lp.FailureThreshold
		if period == 0 {
			period = 10 // the API's defaults
		}
		if failures == 0 {
			failures = 3
		}
		if period*failures < 20 {
			p = append(p, fmt.Sprintf("livenessProbe restarts after %d s of failures, less than 20 s", period*failures))
		}
	}
	return p
}

func checkSecurity(m *manifests) []string {
	c, p := container(m)
	ps := deployment(m).Spec.Template.Spec
	psc := ps.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		p = append(p, "pod securityContext.runAsNonRoot is not true")
	}
	if psc.RunAsUser == nil || *psc.RunAsUser != imageUID {
		p = append(p, fmt.Sprintf("pod securityContext.runAsUser is not the image's user %d", imageUID))
	}
	if psc.FSGroup == nil {
		p = append(p, "pod securityContext.fsGroup is not set")
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		p = append(p, "pod securityContext.seccompProfile is not RuntimeDefault")
	}
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		p = append(p, "automountServiceAccountToken is not false")
	}
	if ps.HostNetwork || ps.HostPID || ps.HostIPC {
		p = append(p, "pod shares a host namespace")
	}
	sc := c.SecurityContext
	if sc == nil {
		return append(p, "container securityContext is missing")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		p = append(p, "allowPrivilegeEscalation is not false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		p = append(p, "readOnlyRootFilesystem is not true")
	}
	if sc.Privileged != nil && *sc.Privileged {
		p = append(p, "container is privileged")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		p = append(p, "capabilities.drop does not hold ALL")
	} else if len(sc.Capabilities.Add) > 0 {
		p = append(p, fmt.Sprintf("capabilities.add %v", sc.Capabilities.Add))
	}
	return p
}

func checkResources(m *manifests) []string {
	c, p := container(m)
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := c.Resources.Requests[r]
		lim, hasLim := c.Resources.Limits[r]
		if !hasReq || !hasLim {
			p = append(p, fmt.Sprintf("%s: want both a request and a limit", r))
			continue
		}
		if req.Cmp(lim) > 0 {
			p = append(p, fmt.Sprintf("%s: request %s above limit %s", r, req.String(), lim.String()))
		}
	}
	// workers 0 = the CPUs of the cgroup quota, rounded up (src/pipeline): a
	// fraction such as 1500m gives 2 workers sharing 1.5 CPUs, all throttled
	cfg, err := loadConfig(m)
	if err != nil {
		return append(p, err.Error())
	}
	if lim, ok := c.Resources.Limits[corev1.ResourceCPU]; ok && cfg.int("pipeline.workers", 0) == 0 && lim.MilliValue()%1000 != 0 {
		p = append(p, fmt.Sprintf("limits.cpu %s is not a whole number of CPUs: pipeline.workers 0 rounds the quota up, so the workers would be throttled", lim.String()))
	}
	return p
}

func checkGrace(m *manifests) []string {
	cfg, err := loadConfig(m)
	if err != nil {
		return []string{err.Error()}
	}
	drainMs := cfg.int("pipeline.shutdown_timeout_ms", 10000)
	g := deployment(m).Spec.Template.Spec.TerminationGracePeriodSeconds
	if g == nil {
		return []string{"terminationGracePeriodSeconds is not set (the default, 30 s, is not checked against the drain bound)"}
	}
	if *g < (drainMs+999)/1000+graceSlackSeconds { // so also *g > drainMs/1000
		return []string{fmt.Sprintf("terminationGracePeriodSeconds %d does not exceed pipeline.shutdown_timeout_ms %d ms + %d s for the flush, the final commit and leaving the group",
			*g, drainMs, graceSlackSeconds)}
	}
	return nil
}

func checkRollout(m *manifests) []string {
	var p []string
	d := deployment(m)
	s := d.Spec.Strategy
	if s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil {
		return []string{"strategy is not RollingUpdate"}
	}
	if u := s.RollingUpdate.MaxUnavailable; u == nil || u.String() != "0" {
		p = append(p, "rollingUpdate.maxUnavailable is not 0")
	}
	if sg := s.RollingUpdate.MaxSurge; sg == nil || sg.String() != "1" {
		p = append(p, "rollingUpdate.maxSurge is not 1")
	}
	if d.Spec.Replicas != nil {
		p = append(p, "spec.replicas is set: the HPA (or KEDA's) owns the count, and every apply would reset it")
	}
	return p
}

func podLabels(m *manifests) labels.Set { return deployment(m).Spec.Template.Labels }

// selects reports whether sel matches exactly the fraudd pods' labels.
func selects(sel *metav1.LabelSelector, l labels.Set) bool {
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !s.Empty() && s.Matches(l)
}

func checkSpread(m *manifests) []string {
	var p []string
	have := map[string]bool{}
	for _, tc := range deployment(m).Spec.Template.Spec.TopologySpreadConstraints {
		have[tc.TopologyKey] = true
		if tc.WhenUnsatisfiable != corev1.ScheduleAnyway {
			p = append(p, tc.TopologyKey+": whenUnsatisfiable is not ScheduleAnyway (a zone outage would leave pods Pending)")
		}
		if !selects(tc.LabelSelector, podLabels(m)) {
			p = append(p, tc.TopologyKey+": labelSelector does not select the pods")
		}
	}
	for _, k := range []string{"topology.kubernetes.io/zone", "kubernetes.io/hostname"} {
		if !have[k] {
			p = append(p, "no topology spread over "+k)
		}
	}
	return p
}

// envValues is what the container's environment holds: literal values, and
// secretKeyRef values from the Secret examples; a fieldRef gets a stand-in value.
func envValues(m *manifests) (map[string]string, []string) {
	c, p := container(m)
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			if ref.Optional != nil && *ref.Optional {
				p = append(p, e.Name+": secretKeyRef is optional (fraudd would start without the credential)")
			}
			v, err := secretValue(m, ref.Name, ref.Key)
			if err != nil {
				p = append(p, e.Name+": "+err.Error())
				continue
			}
			env[e.Name] = v
		case e.ValueFrom.FieldRef != nil:
			env[e.Name] = "stand-in-" + strings.ReplaceAll(e.ValueFrom.FieldRef.FieldPath, ".", "-")
		default:
			p = append(p, e.Name+": only value, secretKeyRef and fieldRef are checked")
		}
	}
	if len(c.EnvFrom) > 0 {
		p = append(p, "envFrom: list each variable so the checks can follow it")
	}
	return env, p
}

func secretValue(m *manifests, name, key string) (string, error) {
	ns := deployment(m).Namespace
	for _, s := range m.secretExamples {
		if s.Name != name {
			continue
		}
		if s.Namespace != ns {
			return "", fmt.Errorf("Secret example %s is in namespace %q, the Deployment in %q", name, s.Namespace, ns)
		}
		if v, ok := s.StringData[key]; ok {
			return v, nil
		}
		if v, ok := s.Data[key]; ok {
			return string(v), nil
		}
		return "", fmt.Errorf("Secret example %s has no key %q", name, key)
	}
	return "", fmt.Errorf("no Secret example named %s beside the kustomization", name)
}

func checkEnv(m *manifests) []string {
	_, p := envValues(m)
	cfg, err := loadConfig(m)
	if err != nil {
		return append(p, err.Error())
	}
	return append(p, cfg.substErrs...)
}

func checkConfig(m *manifests) []string {
	cfg, err := loadConfig(m)
	if err != nil {
		return []string{err.Error()}
	}
	var p []string
	for _, k := range []string{"kafka.bootstrap_servers", "kafka.input_topic", "kafka.output_topic", "kafka.dead_letter_topic"} {
		if cfg.str(k) == "" {
			p = append(p, "missing "+k)
		}
	}
	return p
}

func checkHPA(m *manifests) []string {
	if len(m.hpas) == 0 && len(m.scaledObjects) > 0 {
		return nil // KEDA makes the HPA; checkScaledObject holds it to the same rules
	}
	if len(m.hpas) == 0 {
		return []string{"no HorizontalPodAutoscaler"}
	}
	h := m.hpas[0]
	d := deployment(m)
	var p []string
	if r := h.Spec.ScaleTargetRef; r.Kind != "Deployment" || r.Name != d.Name || r.APIVersion != "apps/v1" {
		p = append(p, fmt.Sprintf("scaleTargetRef %s/%s %s is not the Deployment %s", r.APIVersion, r.Kind, r.Name, d.Name))
	}
	cpu := false
	for _, mt := range h.Spec.Metrics {
		if mt.Type == autoscalingv2.ResourceMetricSourceType && mt.Resource != nil && mt.Resource.Name == corev1.ResourceCPU &&
			mt.Resource.Target.Type == autoscalingv2.UtilizationMetricType && mt.Resource.Target.AverageUtilization != nil {
			cpu = true
		}
	}
	if !cpu {
		p = append(p, "no CPU utilization metric")
	}
	minR := int32(1)
	if h.Spec.MinReplicas != nil {
		minR = *h.Spec.MinReplicas
	}
	if minR > h.Spec.MaxReplicas {
		p = append(p, fmt.Sprintf("minReplicas %d above maxReplicas %d", minR, h.Spec.MaxReplicas))
	}
	p = append(p, checkPartitions(m, "maxReplicas", h.Spec.MaxReplicas, h.Annotations)...)
	return append(p, checkBehavior(h.Spec.Behavior, "behavior")...)
}

// checkPartitions: the autoscaler's upper bound (maxField) plus the rollout's
// surge must not exceed the input topic's partitions, recorded with the topic's
// name in the autoscaler's annotations.
func checkPartitions(m *manifests, maxField string, maxReplicas int32, annotations map[string]string) []string {
	var p []string
	d := deployment(m)
	parts, err := strconv.Atoi(annotations[partitionsAnnotation])
	if err != nil || parts < 1 {
		p = append(p, fmt.Sprintf("annotation %s %q is not a partition count", partitionsAnnotation, annotations[partitionsAnnotation]))
	} else {
		// during a rollout maxSurge more members join; each needs a partition to
		// become Ready, or the rollout stalls (maxUnavailable 0)
		surge := 0
		if ru := d.Spec.Strategy.RollingUpdate; ru != nil && ru.MaxSurge != nil {
			surge, _ = intstr.GetScaledValueFromIntOrPercent(ru.MaxSurge, int(maxReplicas), true)
		}
		if int(maxReplicas)+surge > parts {
			p = append(p, fmt.Sprintf("%s %d + maxSurge %d exceeds the %d input partitions: members without a partition are never Ready",
				maxField, maxReplicas, surge, parts))
		}
	}
	if cfg, err := loadConfig(m); err != nil {
		p = append(p, err.Error())
	} else if topic := cfg.str("kafka.input_topic"); annotations[topicAnnotation] != topic {
		p = append(p, fmt.Sprintf("annotation %s %q is not kafka.input_topic %q: is %s still right?",
			topicAnnotation, annotations[topicAnnotation], topic, partitionsAnnotation))
	}
	return p
}

// checkBehavior: every scale event is a rebalance, so scale-down is damped.
func checkBehavior(b *autoscalingv2.HorizontalPodAutoscalerBehavior, field string) []string {
	var p []string
	if b == nil || b.ScaleDown == nil || b.ScaleDown.StabilizationWindowSeconds == nil || *b.ScaleDown.StabilizationWindowSeconds < 60 {
		p = append(p, field+".scaleDown.stabilizationWindowSeconds is not set to at least 60 s")
	} else if len(b.ScaleDown.Policies) == 0 {
		p = append(p, field+".scaleDown has no policy (the default removes up to 100% of the pods at once)")
	} else {
		for _, pol := range b.ScaleDown.Policies {
			if pol.Type == autoscalingv2.PercentScalingPolicy && pol.Value > 50 || pol.Type == autoscalingv2.PodsScalingPolicy && pol.Value > 2 {
				p = append(p, fmt.Sprintf("scaleDown policy %s %d per %d s is not conservative", pol.Type, pol.Value, pol.PeriodSeconds))
			}
		}
	}
	return p
}

func checkPDB(m *manifests) []string {
	if len(m.pdbs) == 0 {
		return []string{"no PodDisruptionBudget"}
	}
	b := m.pdbs[0]
	var p []string
	if !selects(b.Spec.Selector, podLabels(m)) {
		p = append(p, "selector does not select the pods")
	}
	switch {
	case b.Spec.MaxUnavailable != nil:
		if b.Spec.MaxUnavailable.String() == "0" || b.Spec.MaxUnavailable.String() == "0%" {
			p = append(p, "maxUnavailable 0 blocks every node drain")
		}
	case b.Spec.MinAvailable != nil:
		p = append(p, "minAvailable: use maxUnavailable, which follows the HPA's count")
	default:
		p = append(p, "neither maxUnavailable nor minAvailable")
	}
	return p
}

func service(m *manifests) (*corev1.Service, *corev1.ServicePort) {
	for _, s := range m.services {
		for i := range s.Spec.Ports {
			if s.Spec.Ports[i].Name == "metrics" {
				return s, &s.Spec.Ports[i]
			}
		}
	}
	return nil, nil
}

func checkService(m *manifests) []string {
	s, sp := service(m)
	if s == nil {
		return []string{"no Service with a port named metrics"}
	}
	c, p := container(m)
	if !labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels(m)) || len(s.Spec.Selector) == 0 {
		p = append(p, "selector does not select the pods")
	}
	if s.Spec.Type != "" && s.Spec.Type != corev1.ServiceTypeClusterIP {
		p = append(p, fmt.Sprintf("type %s: metrics stay inside the cluster (ClusterIP)", s.Spec.Type))
	}
	cfg, err := loadConfig(m)
	if err != nil {
		return append(p, err.Error())
	}
	if int64(containerPort(c, sp.TargetPort)) != cfg.int("http.port", 8080) {
		p = append(p, fmt.Sprintf("port metrics: targetPort %s is not the container port of http.port", sp.TargetPort.String()))
	}
	if !s.Spec.PublishNotReadyAddresses {
		p = append(p, "publishNotReadyAddresses is false: a scrape setup that keeps only ready endpoints would miss the pods FrauddNotReady is about")
	}
	return p
}

func checkServiceMonitor(m *manifests) []string {
	if len(m.serviceMonitors) == 0 {
		return []string{"no ServiceMonitor"}
	}
	sm := m.serviceMonitors[0]
	s, sp := service(m)
	if s == nil {
		return []string{"no Service with a port named metrics"}
	}
	var p []string
	if !selects(&sm.Spec.Selector, s.Labels) {
		p = append(p, fmt.Sprintf("selector does not select Service %s's labels", s.Name))
	}
	if ns := sm.Spec.NamespaceSelector; !ns.Any && len(ns.MatchNames) > 0 && !slices.Contains(ns.MatchNames, s.Namespace) {
		p = append(p, "namespaceSelector leaves out the Service's namespace")
	}
	if len(sm.Spec.Endpoints) == 0 {
		p = append(p, "no endpoints")
	}
	for _, e := range sm.Spec.Endpoints {
		if e.Port != sp.Name {
			p = append(p, fmt.Sprintf("endpoint port is not the Service's port name %q", sp.Name))
		}
		if e.Path != "" && e.Path != "/metrics" {
			p = append(p, "endpoint path "+e.Path+" is not /metrics")
		}
	}
	return p
}

func checkPrometheusRule(m *manifests) []string {
	if len(m.rules) == 0 {
		return []string{"no PrometheusRule"}
	}
	text, err := os.ReadFile(m.alertsFile)
	if err != nil {
		return []string{err.Error()}
	}
	// monitoring/alerts.yaml must itself be a valid PrometheusRule spec
	var spec monv1.PrometheusRuleSpec
	if err := yaml.UnmarshalStrict(text, &spec); err != nil {
		return []string{fmt.Sprintf("%s as a PrometheusRule spec: %v", m.alertsFile, err)}
	}
	var want, have any
	if err := yaml.Unmarshal(text, &want); err != nil {
		return []string{err.Error()}
	}
	j, _ := json.Marshal(m.rules[0].Spec)
	_ = json.Unmarshal(j, &have)
	if !reflect.DeepEqual(want, have) {
		return []string{fmt.Sprintf("spec differs from %s: regenerate with (cd tests/k8s && go test -run TestPrometheusRuleFile . -update)", m.alertsFile)}
	}
	return nil
}

// ---- the fraudd config inside the ConfigMap ----

type config struct {
	tree      map[string]any
	substErrs []string // ${VAR} that the container's env does not provide
}

var substRe = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// subst replaces ${VAR} and ${VAR:-default} as fraudd does (docs/CONFIG.md).
func subst(s string, env map[string]string, errs *[]string) string {
	return substRe.ReplaceAllStringFunc(s, func(t string) string {
		if t == "$$" {
			return "$"
		}
		g := substRe.FindStringSubmatch(t)
		if v := env[g[1]]; v != "" {
			return v
		}
		if g[2] != "" {
			return g[3]
		}
		*errs = append(*errs, fmt.Sprintf("config uses ${%s}, which the container's env does not set", g[1]))
		return ""
	})
}

func substTree(v any, env map[string]string, errs *[]string) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = substTree(x, env, errs)
		}
	case []any:
		for i, x := range v {
			v[i] = substTree(x, env, errs)
		}
	case string:
		return subst(v, env, errs)
	}
	return v
}

// loadConfig parses the ConfigMap's fraudd.yaml (duplicate keys are errors, as
// in fraudd) with ${VAR} substituted from the container's env.
func loadConfig(m *manifests) (*config, error) {
	text, err := configText(m)
	if err != nil {
		return nil, err
	}
	j, err := yaml.YAMLToJSONStrict([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("fraudd.yaml: %w", err)
	}
	cfg := &config{}
	if err := json.Unmarshal(j, &cfg.tree); err != nil || cfg.tree == nil {
		return nil, fmt.Errorf("fraudd.yaml is not a mapping")
	}
	env, _ := envValues(m)
	substTree(cfg.tree, env, &cfg.substErrs)
	return cfg, nil
}

func (c *config) get(key string) any {
	parts := strings.SplitN(key, ".", 2)
	sec, _ := c.tree[parts[0]].(map[string]any)
	if sec == nil {
		return nil
	}
	return sec[parts[1]]
}

func (c *config) str(key string) string {
	s, _ := c.get(key).(string)
	return s
}

// int reads an integer option (after substitution it may be a string), or def
// when it is absent; a value that is no integer gives -1, which fails the checks.
func (c *config) int(key string, def int64) int64 {
	switch v := c.get(key).(type) {
	case nil:
		return def
	case float64:
		return int64(v)
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return -1
		}
		return n
	}
	return -1
}
