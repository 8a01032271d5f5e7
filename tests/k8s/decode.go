// Package k8s checks fraudd's Kubernetes manifests (k8s/) against the real API
// types: kustomize's own builder renders the base and the overlays, every
// object is decoded strictly into its Go type from k8s.io/api, the Prometheus
// Operator or KEDA, and checks.go holds the rules the manifests must keep.
package k8s

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	monv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// kinds are the only objects the manifests may hold, each with its Go type.
// Anything else (a new kind, a typo in apiVersion or kind) fails the decode,
// so adding a kind means adding it here and to the checks.
var kinds = map[string]func() any{
	"apps/v1 Deployment":                      func() any { return &appsv1.Deployment{} },
	"v1 ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"v1 Secret":                               func() any { return &corev1.Secret{} },
	"v1 Service":                              func() any { return &corev1.Service{} },
	"autoscaling/v2 HorizontalPodAutoscaler":  func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"policy/v1 PodDisruptionBudget":           func() any { return &policyv1.PodDisruptionBudget{} },
	"monitoring.coreos.com/v1 ServiceMonitor": func() any { return &monv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1 PrometheusRule": func() any { return &monv1.PrometheusRule{} },
	"keda.sh/v1alpha1 ScaledObject":           func() any { return &kedav1alpha1.ScaledObject{} },
	"keda.sh/v1alpha1 TriggerAuthentication":  func() any { return &kedav1alpha1.TriggerAuthentication{} },
}

// decodeStrict decodes one YAML document into its registered type the way the
// API server's strict field validation does: duplicate keys, unknown fields
// (case-sensitively: "LivenessProbe" is not "livenessProbe") and values of the
// wrong type are errors.
func decodeStrict(doc []byte) (any, error) {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(j, &tm); err != nil {
		return nil, fmt.Errorf("not an object: %w", err)
	}
	newObj, ok := kinds[tm.APIVersion+" "+tm.Kind]
	if !ok {
		return nil, fmt.Errorf("%s %q: unknown kind %q (apiVersion %q); known: %v",
			tm.Kind, tm.Metadata.Name, tm.Kind, tm.APIVersion, knownKinds())
	}
	obj := newObj()
	strict, err := sigsjson.UnmarshalStrict(j, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", tm.Kind, tm.Metadata.Name, err)
	}
	if len(strict) > 0 {
		return nil, fmt.Errorf("%s %q: %w", tm.Kind, tm.Metadata.Name, errors.Join(strict...))
	}
	return obj, nil
}

func knownKinds() []string {
	var ks []string
	for k := range kinds {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// build renders a kustomization directory with kustomize's own builder (what
// `kubectl apply -k` runs) and decodes every object strictly.
func build(dir string) ([]any, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var objs []any
	var errs []error
	for _, r := range rm.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		obj, err := decodeStrict(doc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		objs = append(objs, obj)
	}
	return objs, errors.Join(errs...)
}

// decodeFile decodes a manifest that is not part of a kustomization (the
// Secret examples).
func decodeFile(path string) (any, error) {
	doc, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	obj, err := decodeStrict(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return obj, nil
}
