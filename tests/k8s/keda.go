package k8s

// The rules for KEDA's ScaledObject (overlays/keda-lag-example): the same
// partition and damping rules as the CPU HPA's, KEDA's own admission checks
// that need no cluster, and the kafka trigger read by KEDA's own parser and
// compared with fraudd's config. A trigger's metadata is a map of strings in
// the API type, so the strict decode cannot catch "lagTreshold"; the kafka
// scaler's parameter table (the keda:"..." tags of kafkaMetadata in the pinned
// KEDA module's pkg/scalers/kafka_scaler.go) is read here, unknown keys are
// refused, and the values are parsed with KEDA's scalersconfig.TypedConfig
// (types, enums, required parameters, defaults).

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	"github.com/kedacore/keda/v2/pkg/scalers/scalersconfig"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

const kedaModule = "github.com/kedacore/keda/v2"

func init() {
	// KEDA's packages log through controller-runtime; nothing here reads it
	logf.SetLogger(logr.Discard())
}

// kafkaParam is one row of the kafka scaler's parameter table.
type kafkaParam struct {
	names []string // name=a;b
	order []string // order=triggerMetadata;resolvedEnv;authParams
}

var kafkaScaler struct {
	once   sync.Once
	typ    reflect.Type // kafkaMetadata's tagged fields, plus TriggerIndex
	params []kafkaParam
	err    error
}

// kafkaScalerTable reads kafkaMetadata from the KEDA module that go.sum pins
// (the module cache holds it whole once its API package is built).
func kafkaScalerTable() (reflect.Type, []kafkaParam, error) {
	k := &kafkaScaler
	k.once.Do(func() {
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", kedaModule).Output()
		if err != nil {
			k.err = fmt.Errorf("go list -m %s: %w", kedaModule, err)
			return
		}
		file := filepath.Join(strings.TrimSpace(string(out)), "pkg/scalers/kafka_scaler.go")
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
		if err != nil {
			k.err = err
			return
		}
		k.typ, k.params, k.err = kafkaMetadataType(f)
	})
	return k.typ, k.params, k.err
}

func kafkaMetadataType(f *ast.File) (reflect.Type, []kafkaParam, error) {
	basic := map[string]reflect.Type{
		"string": reflect.TypeFor[string](), "bool": reflect.TypeFor[bool](), "int": reflect.TypeFor[int](),
		"int32": reflect.TypeFor[int32](), "int64": reflect.TypeFor[int64](), "float64": reflect.TypeFor[float64](),
	}
	var st *ast.StructType
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.TYPE {
			continue
		}
		for _, s := range g.Specs {
			ts := s.(*ast.TypeSpec)
			if id, ok := ts.Type.(*ast.Ident); ok && basic[id.Name] != nil {
				basic[ts.Name.Name] = basic[id.Name] // type offsetResetPolicy string
			}
			if s, ok := ts.Type.(*ast.StructType); ok && ts.Name.Name == "kafkaMetadata" {
				st = s
			}
		}
	}
	if st == nil {
		return nil, nil, errors.New("kafka_scaler.go: no struct kafkaMetadata")
	}
	var fields []reflect.StructField
	var params []kafkaParam
	for _, fd := range st.Fields.List {
		if fd.Tag == nil || len(fd.Names) != 1 {
			continue
		}
		raw, _ := strconv.Unquote(fd.Tag.Value)
		tag := reflect.StructTag(raw).Get("keda")
		if tag == "" {
			continue
		}
		var t reflect.Type
		switch e := fd.Type.(type) {
		case *ast.Ident:
			t = basic[e.Name]
		case *ast.ArrayType:
			if id, ok := e.Elt.(*ast.Ident); ok && e.Len == nil && basic[id.Name] != nil {
				t = reflect.SliceOf(basic[id.Name])
			}
		}
		if t == nil {
			return nil, nil, fmt.Errorf("kafkaMetadata.%s: a field type this check does not know", fd.Names[0].Name)
		}
		fields = append(fields, reflect.StructField{Name: fd.Names[0].Name, Type: t, Tag: reflect.StructTag(`keda:"` + tag + `"`)})
		var p kafkaParam
		for _, kv := range strings.Split(tag, ",") {
			key, val, _ := strings.Cut(strings.TrimSpace(kv), "=")
			switch key {
			case "name":
				p.names = strings.Split(val, ";")
			case "order":
				p.order = strings.Split(val, ";")
			}
		}
		params = append(params, p)
	}
	fields = append(fields, reflect.StructField{Name: "TriggerIndex", Type: reflect.TypeFor[int]()})
	return reflect.StructOf(fields), params, nil
}

// kafkaTrigger is the ScaledObject's kafka trigger as KEDA's scaler would see it.
type kafkaTrigger struct {
	trigger *kedav1alpha1.ScaleTriggers
	v       reflect.Value // parsed by scalersconfig.TypedConfig
}

func (k *kafkaTrigger) str(field string) string {
	if f := k.v.FieldByName(field); f.IsValid() {
		return fmt.Sprint(f.Interface())
	}
	return ""
}

// parseKafkaTrigger resolves the trigger's parameters as KEDA does: from its
// metadata, from the scale target container's env (xFromEnv) and from the
// TriggerAuthentication's Secret references (the Secret examples' values).
func parseKafkaTrigger(m *manifests) (*kafkaTrigger, []string) {
	so := m.scaledObjects[0]
	if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "kafka" {
		return nil, []string{"triggers: want exactly one, of type kafka (lag of fraudd's consumer group)"}
	}
	t := &so.Spec.Triggers[0]
	typ, params, err := kafkaScalerTable()
	if err != nil {
		return nil, []string{"KEDA's kafka scaler parameters: " + err.Error()}
	}
	var p []string
	allowed := map[string]bool{}
	for _, prm := range params {
		for _, n := range prm.names {
			allowed[n] = slices.Contains(prm.order, "triggerMetadata")
			allowed[n+"FromEnv"] = slices.Contains(prm.order, "resolvedEnv")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(t.Metadata)) {
		if !allowed[k] {
			p = append(p, fmt.Sprintf("trigger metadata %q is not a parameter of KEDA's kafka scaler (KEDA would ignore it)", k))
		}
	}
	// the env KEDA resolves xFromEnv in: the container envSourceContainerName
	// names, else the first
	env, _ := envValues(m)
	d := deployment(m)
	want := so.Spec.ScaleTargetRef.EnvSourceContainerName
	if cs := d.Spec.Template.Spec.Containers; want == "" && len(cs) > 0 {
		want = cs[0].Name
	}
	for k, name := range t.Metadata {
		if strings.HasSuffix(k, "FromEnv") {
			if want != "fraudd" {
				p = append(p, fmt.Sprintf("%s reads the env of container %q, not fraudd's", k, want))
			} else if _, ok := env[name]; !ok {
				p = append(p, fmt.Sprintf("%s: container fraudd has no variable %s", k, name))
			}
		}
	}
	auth, ps := triggerAuthParams(m, t)
	p = append(p, ps...)
	v := reflect.New(typ)
	sc := &scalersconfig.ScalerConfig{
		ScalableObjectName: so.Name, ScalableObjectNamespace: so.Namespace, ScalableObjectType: "ScaledObject",
		TriggerName: t.Name, TriggerType: t.Type, TriggerMetadata: t.Metadata, ResolvedEnv: env, AuthParams: auth,
	}
	if err := sc.TypedConfig(v.Interface()); err != nil {
		return nil, append(p, "KEDA's kafka scaler: "+err.Error())
	}
	return &kafkaTrigger{trigger: t, v: v.Elem()}, p
}

// triggerAuthParams: the TriggerAuthentication the trigger names, in the build,
// with each Secret reference resolved in the Secret examples.
func triggerAuthParams(m *manifests, t *kedav1alpha1.ScaleTriggers) (map[string]string, []string) {
	auth := map[string]string{}
	ref := t.AuthenticationRef
	if ref == nil {
		return auth, nil
	}
	if ref.Kind != "" && ref.Kind != "TriggerAuthentication" {
		return auth, []string{fmt.Sprintf("authenticationRef kind %s: only a TriggerAuthentication in the build is checked", ref.Kind)}
	}
	var ta *kedav1alpha1.TriggerAuthentication
	for _, a := range m.triggerAuths {
		if a.Name == ref.Name {
			ta = a
		}
	}
	if ta == nil {
		return auth, []string{fmt.Sprintf("authenticationRef %s: no TriggerAuthentication of that name in the build", ref.Name)}
	}
	var p []string
	if _, err := ta.ValidateCreate(nil); err != nil {
		p = append(p, fmt.Sprintf("TriggerAuthentication %s, KEDA's admission check: %v", ta.Name, err))
	}
	s := ta.Spec
	other := s
	other.SecretTargetRef = nil
	if !reflect.DeepEqual(other, kedav1alpha1.TriggerAuthenticationSpec{}) {
		p = append(p, fmt.Sprintf("TriggerAuthentication %s: only secretTargetRef is checked; keep the credentials in the Secret fraudd reads", ta.Name))
	}
	for _, r := range s.SecretTargetRef {
		v, err := secretValue(m, r.Name, r.Key)
		if err != nil {
			p = append(p, fmt.Sprintf("TriggerAuthentication %s, parameter %s: %v", ta.Name, r.Parameter, err))
			continue
		}
		auth[r.Parameter] = v
	}
	return auth, p
}

// kafkaProp is a librdkafka property as fraudd's consumer gets it:
// kafka.consumer over kafka.properties over fraudd's default (src/source).
func kafkaProp(cfg *config, name, def string) string {
	for _, sec := range []string{"kafka.consumer", "kafka.properties"} {
		if mp, ok := cfg.get(sec).(map[string]any); ok {
			if v, ok := mp[name]; ok {
				return fmt.Sprint(v)
			}
		}
	}
	return def
}

// brokers is a host:port list, trimmed and sorted
func brokers(l []string) []string {
	var out []string
	for _, b := range l {
		for _, x := range strings.Split(b, ",") {
			if x = strings.TrimSpace(x); x != "" {
				out = append(out, x)
			}
		}
	}
	slices.Sort(out)
	return out
}

func checkScaledObject(m *manifests) []string {
	if len(m.scaledObjects) == 0 {
		return nil
	}
	so := m.scaledObjects[0]
	d := deployment(m)
	var p []string
	// KEDA's admission webhook runs these too; the rest of it needs a cluster
	for _, err := range []error{kedav1alpha1.CheckReplicaCountBoundsAreValid(so), kedav1alpha1.ValidateTriggers(so.Spec.Triggers), kedav1alpha1.CheckFallbackValid(so)} {
		if err != nil {
			p = append(p, "KEDA's admission check: "+err.Error())
		}
	}
	if r := so.Spec.ScaleTargetRef; r == nil {
		p = append(p, "no scaleTargetRef")
	} else if api, kind := cmp(r.APIVersion, "apps/v1"), cmp(r.Kind, "Deployment"); api != "apps/v1" || kind != "Deployment" || r.Name != d.Name {
		p = append(p, fmt.Sprintf("scaleTargetRef %s/%s %s is not the Deployment %s", api, kind, r.Name, d.Name))
	}
	for _, h := range m.hpas {
		if r := h.Spec.ScaleTargetRef; r.Kind == "Deployment" && r.Name == d.Name {
			p = append(p, fmt.Sprintf("HorizontalPodAutoscaler %s also scales Deployment %s: KEDA makes its own HPA from the ScaledObject, and two HPAs on one Deployment fight over its replicas (delete the CPU one in the overlay)", h.Name, d.Name))
		}
	}
	switch mr := so.Spec.MinReplicaCount; {
	case mr == nil || *mr < 1:
		p = append(p, "minReplicaCount is not set to at least 1 (KEDA's default is 0): with no member nothing is scored until KEDA wakes the group, and the first pod must still load its model and join")
	case so.Spec.IdleReplicaCount != nil:
		p = append(p, "idleReplicaCount: fraudd never idles below minReplicaCount")
	}
	if so.Spec.MaxReplicaCount == nil {
		p = append(p, "maxReplicaCount is not set (KEDA's default, 100, ignores the partition count)")
	} else {
		p = append(p, checkPartitions(m, "maxReplicaCount", *so.Spec.MaxReplicaCount, so.Annotations)...)
	}
	var behavior *autoscalingv2.HorizontalPodAutoscalerBehavior
	if a := so.Spec.Advanced; a != nil && a.HorizontalPodAutoscalerConfig != nil {
		behavior = a.HorizontalPodAutoscalerConfig.Behavior
	}
	p = append(p, checkBehavior(behavior, "advanced.horizontalPodAutoscalerConfig.behavior")...)

	k, ps := parseKafkaTrigger(m)
	p = append(p, ps...)
	if k == nil {
		return p
	}
	cfg, err := loadConfig(m)
	if err != nil {
		return append(p, err.Error())
	}
	if topic := cfg.str("kafka.input_topic"); k.str("Topic") != topic {
		p = append(p, fmt.Sprintf("trigger topic %q is not kafka.input_topic %q", k.str("Topic"), topic))
	}
	group := cfg.str("kafka.group_id")
	if group == "" {
		group = "fraudd"
	}
	if k.str("ConsumerGroup") != group {
		p = append(p, fmt.Sprintf("trigger consumerGroup %q is not kafka.group_id %q", k.str("ConsumerGroup"), group))
	}
	have, _ := k.v.FieldByName("BootstrapServers").Interface().([]string)
	if have, want := brokers(have), brokers([]string{cfg.str("kafka.bootstrap_servers")}); !slices.Equal(have, want) {
		p = append(p, fmt.Sprintf("trigger bootstrapServers %q are not kafka.bootstrap_servers %q", have, want))
	}
	if _, ok := k.trigger.Metadata["lagThreshold"]; !ok {
		p = append(p, "lagThreshold is not set: KEDA's default, 10 records per replica, is less than one fetch and would scale out on every burst")
	} else if n, _ := strconv.ParseInt(k.str("LagThreshold"), 10, 64); n <= 0 {
		p = append(p, "lagThreshold is not a positive number")
	}
	if want := kafkaProp(cfg, "auto.offset.reset", "earliest"); k.str("OffsetResetPolicy") != want {
		p = append(p, fmt.Sprintf("trigger offsetResetPolicy %s is not fraudd's auto.offset.reset %s: KEDA would count the lag of a group without offsets differently from where fraudd starts", k.str("OffsetResetPolicy"), want))
	}
	if k.str("AllowIdleConsumers") != "false" {
		p = append(p, "allowIdleConsumers is true: KEDA would ask for more members than partitions, and a member without a partition is never Ready")
	}
	return p
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// checkScaledObjectAuth: KEDA reaches the brokers the way fraudd does (TLS and
// the SASL mechanism of its security.protocol and sasl.mechanisms) with the
// same credentials.
func checkScaledObjectAuth(m *manifests) []string {
	if len(m.scaledObjects) == 0 {
		return nil
	}
	k, _ := parseKafkaTrigger(m) // its problems are checkScaledObject's
	if k == nil {
		return []string{"no kafka trigger KEDA can parse (see the scaledobject check)"}
	}
	cfg, err := loadConfig(m)
	if err != nil {
		return []string{err.Error()}
	}
	var p []string
	proto := strings.ToUpper(kafkaProp(cfg, "security.protocol", "PLAINTEXT"))
	wantTLS := proto == "SSL" || proto == "SASL_SSL"
	if tls := k.str("TLS"); (tls == "enable") != wantTLS {
		p = append(p, fmt.Sprintf("trigger tls %q, but fraudd's security.protocol is %s", tls, proto))
	}
	sasl := k.str("Sasl")
	if proto != "SASL_SSL" && proto != "SASL_PLAINTEXT" {
		if sasl != "" && sasl != "none" {
			p = append(p, fmt.Sprintf("trigger sasl %q, but fraudd's security.protocol %s has no SASL", sasl, proto))
		}
		return p
	}
	mech := strings.ToUpper(kafkaProp(cfg, "sasl.mechanisms", kafkaProp(cfg, "sasl.mechanism", "GSSAPI")))
	want := map[string]string{"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512",
		"OAUTHBEARER": "oauthbearer", "GSSAPI": "gssapi"}[mech]
	if sasl != want {
		p = append(p, fmt.Sprintf("trigger sasl %q, but fraudd's sasl.mechanisms %s is KEDA's %q", sasl, mech, want))
	}
	if k.trigger.AuthenticationRef == nil {
		return append(p, "no authenticationRef: KEDA would connect without fraudd's SASL credentials")
	}
	if want == "plaintext" || want == "scram_sha256" || want == "scram_sha512" {
		// KEDA may have a principal of its own (a Secret fraudd does not read);
		// from a Secret fraudd reads, it must take fraudd's own credentials
		c, _ := container(m)
		fromFraudds := map[string]bool{}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				fromFraudds[e.ValueFrom.SecretKeyRef.Name] = true
			}
		}
		refs := map[string]string{}
		for _, a := range m.triggerAuths {
			if a.Name == k.trigger.AuthenticationRef.Name {
				for _, r := range a.Spec.SecretTargetRef {
					refs[r.Parameter] = r.Name
				}
			}
		}
		for _, c := range []struct{ param, field, prop string }{{"username", "Username", "sasl.username"}, {"password", "Password", "sasl.password"}} {
			switch {
			case k.str(c.field) == "":
				p = append(p, fmt.Sprintf("no %s for SASL %s in the TriggerAuthentication", c.param, mech))
			case fromFraudds[refs[c.param]] && k.str(c.field) != kafkaProp(cfg, c.prop, ""):
				// values are not printed: they may be real
				p = append(p, fmt.Sprintf("the TriggerAuthentication's %s, from Secret %s, is not fraudd's %s: read the key fraudd's env reads, or give KEDA a Secret of its own",
					c.param, refs[c.param], c.prop))
			}
		}
	}
	return p
}
