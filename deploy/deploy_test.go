package deploy

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/callfix/callfix/config"
)

// The deployment files were written for these ports and paths; the tests
// hold them to the proxy's real defaults.
const (
	wantProxyPort = 8080
	wantAdminPort = 9090
	readyPath     = "/readyz"
	healthPath    = "/healthz"
	callfixImage  = "callfix"
	distroless    = "gcr.io/distroless/static-debian12:nonroot"
	collectorFile = "otel-collector.yaml"
)

// ---------------------------------------------------------------------------
// The proxy's defaults

func TestDefaults_MatchTheManifests(t *testing.T) {
	d := config.Defaults()
	if p := portOf(t, d.Listen); p != wantProxyPort {
		t.Errorf("config.Defaults().Listen = %q: the manifests assume port %d", d.Listen, wantProxyPort)
	}
	if p := portOf(t, d.AdminListen); p != wantAdminPort {
		t.Errorf("config.Defaults().AdminListen = %q: the manifests assume port %d", d.AdminListen, wantAdminPort)
	}
	if d.Server.ShutdownGrace <= 0 {
		t.Errorf("config.Defaults().Server.ShutdownGrace = %v", d.Server.ShutdownGrace)
	}
}

// ---------------------------------------------------------------------------
// YAML: every document of every file parses

func TestYAML_EveryDocumentParses(t *testing.T) {
	files := yamlFiles(t)
	if len(files) < 6 {
		t.Fatalf("found %d YAML files under deploy/, want at least 6: %v", len(files), files)
	}
	for _, f := range files {
		docs := yamlDocs(t, f)
		if len(docs) == 0 {
			t.Errorf("%s: no YAML document", f)
		}
		if strings.HasPrefix(f, "kubernetes/") {
			for i, d := range docs {
				if str(d["apiVersion"]) == "" || str(d["kind"]) == "" || str(dig(d, "metadata", "name")) == "" {
					t.Errorf("%s: document %d has no apiVersion, kind or metadata.name", f, i+1)
				}
			}
		}
	}
}

// ---------------------------------------------------------------------------
// CALLFIX_* variables named anywhere are real keys

var envNameRE = regexp.MustCompile(`\bCALLFIX_[A-Z0-9_]+`)

func TestEnv_EveryCallfixVariableIsAKey(t *testing.T) {
	known := map[string]bool{config.EnvConfig: true}
	for _, k := range config.Keys() {
		if k.Env != "" {
			known[k.Env] = true
		}
	}
	seen := 0
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasSuffix(p, ".go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, name := range envNameRE.FindAllString(string(b), -1) {
			seen++
			if !known[name] {
				t.Errorf("%s names %s, which is not a callfix setting (config.Keys() or %s)", p, name, config.EnvConfig)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen == 0 {
		t.Error("no CALLFIX_* variable found under deploy/: the scan is broken")
	}
}

// ---------------------------------------------------------------------------
// Kubernetes

// podRef is one pod template of a workload.
type podRef struct {
	file     string
	workload map[string]any
	spec     map[string]any // the pod spec
	labels   map[string]any
	docs     []map[string]any // every document of the file
}

// containerRef is one container of a pod template.
type containerRef struct {
	pod  *podRef
	c    map[string]any
	init bool
}

func (c containerRef) name() string { return c.pod.file + ":" + str(c.c["name"]) }

func (c containerRef) isCallfix() bool {
	img := str(c.c["image"])
	img = img[strings.LastIndex(img, "/")+1:]
	return img == callfixImage || strings.HasPrefix(img, callfixImage+":") || strings.HasPrefix(img, callfixImage+"@")
}

func k8sFiles(t *testing.T) []string {
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kubernetes/sidecar.yaml", "kubernetes/standalone.yaml"} {
		if !slices.Contains(files, want) {
			t.Fatalf("%s is missing", want)
		}
	}
	return files
}

func pods(t *testing.T) []*podRef {
	var out []*podRef
	for _, f := range k8sFiles(t) {
		docs := yamlDocs(t, f)
		for _, d := range docs {
			switch str(d["kind"]) {
			case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
				tmpl := asMap(dig(d, "spec", "template"))
				out = append(out, &podRef{file: f, workload: d, spec: asMap(tmpl["spec"]), labels: asMap(dig(tmpl, "metadata", "labels")), docs: docs})
			case "Pod":
				out = append(out, &podRef{file: f, workload: d, spec: asMap(d["spec"]), labels: asMap(dig(d, "metadata", "labels")), docs: docs})
			}
		}
	}
	if len(out) < 2 {
		t.Fatalf("found %d workloads in deploy/kubernetes, want at least 2", len(out))
	}
	return out
}

func (p *podRef) containers() []containerRef {
	var out []containerRef
	for _, c := range asList(p.spec["initContainers"]) {
		out = append(out, containerRef{pod: p, c: asMap(c), init: true})
	}
	for _, c := range asList(p.spec["containers"]) {
		out = append(out, containerRef{pod: p, c: asMap(c)})
	}
	return out
}

func callfixContainers(t *testing.T) []containerRef {
	var out []containerRef
	for _, p := range pods(t) {
		n := 0
		for _, c := range p.containers() {
			if c.isCallfix() {
				out = append(out, c)
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: %s has %d callfix containers, want 1", p.file, str(dig(p.workload, "metadata", "name")), n)
		}
	}
	return out
}

// effective loads the configuration a callfix container would run with:
// the image's ENV, the container's env, the ConfigMap named by --config.
func (c containerRef) effective(t *testing.T) *config.Snapshot {
	t.Helper()
	env := dockerfileEnv(t)
	for _, e := range asList(c.c["env"]) {
		m := asMap(e)
		if m["valueFrom"] != nil {
			continue
		}
		env = append(env, str(m["name"])+"="+str(m["value"]))
	}
	opts := config.Options{Env: env}
	if file := flagValue(containerArgs(c.c), "config"); file != "" {
		data, ok := c.mountedConfigMapFile(t, file)
		if !ok {
			t.Fatalf("%s: --config %s is not a key of a ConfigMap mounted in the pod and defined in %s", c.name(), file, c.pod.file)
		}
		tmp := filepath.Join(t.TempDir(), path.Base(file))
		if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		opts.File = tmp
	}
	snap, err := config.LoadSnapshot(opts)
	if err != nil {
		t.Fatalf("%s: callfix would not start, its configuration has problems:\n%v", c.name(), err)
	}
	return snap
}

// mountedConfigMapFile returns the content the container sees at file when
// it comes from a ConfigMap defined in the same file.
func (c containerRef) mountedConfigMapFile(t *testing.T, file string) (string, bool) {
	for _, vm := range asList(c.c["volumeMounts"]) {
		m := asMap(vm)
		mp := strings.TrimSuffix(str(m["mountPath"]), "/")
		rel, ok := strings.CutPrefix(file, mp+"/")
		if !ok {
			continue
		}
		vol := c.pod.volume(str(m["name"]))
		cmName := str(dig(vol, "configMap", "name"))
		if cmName == "" {
			continue
		}
		key := rel
		if items := asList(dig(vol, "configMap", "items")); len(items) > 0 {
			key = ""
			for _, it := range items {
				if str(asMap(it)["path"]) == rel {
					key = str(asMap(it)["key"])
				}
			}
		}
		for _, d := range c.pod.docs {
			if str(d["kind"]) == "ConfigMap" && str(dig(d, "metadata", "name")) == cmName {
				data, ok := asMap(d["data"])[key]
				return str(data), ok
			}
		}
	}
	return "", false
}

func (p *podRef) volume(name string) map[string]any {
	for _, v := range asList(p.spec["volumes"]) {
		if str(asMap(v)["name"]) == name {
			return asMap(v)
		}
	}
	return nil
}

// port resolves a probe's or Service's port (a number or a container port
// name) against the container's ports; 0 when it does not resolve.
func resolvePort(c map[string]any, p any) int {
	if n, ok := asInt(p); ok {
		return n
	}
	for _, cp := range asList(c["ports"]) {
		m := asMap(cp)
		if str(m["name"]) == str(p) {
			n, _ := asInt(m["containerPort"])
			return n
		}
	}
	return 0
}

func TestKubernetes_ConfigMapsValidate(t *testing.T) {
	n := 0
	for _, f := range k8sFiles(t) {
		for _, d := range yamlDocs(t, f) {
			if str(d["kind"]) != "ConfigMap" {
				continue
			}
			data, ok := asMap(d["data"])["config.yaml"]
			if !ok {
				continue
			}
			n++
			tmp := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(tmp, []byte(str(data)), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := config.LoadSnapshot(config.Options{File: tmp}); err != nil {
				t.Errorf("%s: ConfigMap %s: config.yaml does not validate:\n%v", f, str(dig(d, "metadata", "name")), err)
			}
		}
	}
	if n < 2 {
		t.Errorf("found %d ConfigMaps with a config.yaml, want one in each of sidecar.yaml and standalone.yaml", n)
	}
}

func TestKubernetes_ListenersPortsAndProbes(t *testing.T) {
	for _, c := range callfixContainers(t) {
		t.Run(c.name(), func(t *testing.T) {
			snap := c.effective(t)
			listen, admin := snap.Config.Listen, snap.Config.AdminListen
			if p := portOf(t, listen); p != wantProxyPort {
				t.Errorf("the proxy listens on %q, want port %d", listen, wantProxyPort)
			}
			if p := portOf(t, admin); p != wantAdminPort {
				t.Errorf("the admin listener is %q, want port %d", admin, wantAdminPort)
			}
			if config.IsLoopback(hostOf(t, admin)) {
				t.Errorf("the admin listener is %q: the kubelet's probes to the pod IP cannot reach it", admin)
			}

			declared := map[int]bool{}
			for _, cp := range asList(c.c["ports"]) {
				p, _ := asInt(asMap(cp)["containerPort"])
				declared[p] = true
				if p != wantProxyPort && p != wantAdminPort {
					t.Errorf("containerPort %d is neither the proxy's %d nor the admin's %d", p, wantProxyPort, wantAdminPort)
				}
			}
			if !declared[wantAdminPort] {
				t.Errorf("containerPort %d (admin) is not declared", wantAdminPort)
			}
			if !config.IsLoopback(hostOf(t, listen)) && !declared[wantProxyPort] {
				t.Errorf("the proxy listens on %q but containerPort %d is not declared", listen, wantProxyPort)
			}

			probes := map[string]string{"readinessProbe": readyPath, "livenessProbe": healthPath, "startupProbe": ""}
			for probe, want := range probes {
				pr := asMap(c.c[probe])
				if pr == nil {
					if want != "" {
						t.Errorf("no %s", probe)
					}
					continue
				}
				get := asMap(pr["httpGet"])
				if get == nil {
					t.Errorf("%s is not an httpGet probe", probe)
					continue
				}
				got := str(get["path"])
				if (want != "" && got != want) || (want == "" && got != readyPath && got != healthPath) {
					t.Errorf("%s path = %q, want %q", probe, got, want)
				}
				if p := resolvePort(c.c, get["port"]); p != wantAdminPort {
					t.Errorf("%s port = %v (%d), want the admin port %d", probe, get["port"], p, wantAdminPort)
				}
				if s := str(get["scheme"]); s != "" && s != "HTTP" {
					t.Errorf("%s scheme = %s: the admin listener is plain HTTP", probe, s)
				}
			}
			if c.init {
				// A native sidecar: restartPolicy Always, or it would block the pod.
				if str(c.c["restartPolicy"]) != "Always" {
					t.Error("callfix is an init container without restartPolicy: Always, so it would never let the pod start")
				}
				if c.c["startupProbe"] == nil {
					t.Error("a native sidecar needs a startupProbe, or the app starts before callfix listens")
				}
			}

			grace, ok := asInt(c.pod.spec["terminationGracePeriodSeconds"])
			if !ok {
				t.Errorf("terminationGracePeriodSeconds is not set (the default 30s must be stated next to shutdown_grace)")
			}
			// SIGTERM, then server.shutdown_delay of serving, then
			// server.shutdown_grace of draining: all before the SIGKILL.
			sg, sd := snap.Config.Server.ShutdownGrace, snap.Config.Server.ShutdownDelay
			if grace <= 25 || time.Duration(grace)*time.Second <= sd+sg {
				t.Errorf("terminationGracePeriodSeconds = %d, want more than 25 and than server.shutdown_delay %v + server.shutdown_grace %v", grace, sd, sg)
			}
			if sd <= 0 && c.pod.file == "kubernetes/standalone.yaml" {
				t.Errorf("server.shutdown_delay is %v behind a Service: new connections routed here before the endpoints update would be refused", sd)
			}
			if a := asMap(dig(c.pod.workload, "spec", "template", "metadata", "annotations")); a["prometheus.io/port"] != nil {
				if p, _ := strconv.Atoi(str(a["prometheus.io/port"])); p != wantAdminPort {
					t.Errorf("prometheus.io/port = %v, want %d", a["prometheus.io/port"], wantAdminPort)
				}
			}
		})
	}
}

func TestKubernetes_SidecarIsLoopbackOnlyAndTheAppPointsAtIt(t *testing.T) {
	found := false
	for _, c := range callfixContainers(t) {
		if c.pod.file != "kubernetes/sidecar.yaml" {
			continue
		}
		found = true
		snap := c.effective(t)
		if !config.IsLoopback(hostOf(t, snap.Config.Listen)) {
			t.Errorf("the sidecar listens on %q: only the pod's app should reach it (CALLFIX_LISTEN=127.0.0.1:%d)", snap.Config.Listen, wantProxyPort)
		}
		urls := 0
		for _, app := range c.pod.containers() {
			if app.isCallfix() {
				continue
			}
			for _, e := range asList(app.c["env"]) {
				u, err := url.Parse(str(asMap(e)["value"]))
				if err != nil || u.Host == "" || !config.IsLoopback(u.Hostname()) {
					continue
				}
				urls++
				if p, _ := strconv.Atoi(u.Port()); p != portOf(t, snap.Config.Listen) {
					t.Errorf("%s: %s=%s does not point at callfix's %s", app.name(), str(asMap(e)["name"]), u, snap.Config.Listen)
				}
			}
		}
		if urls == 0 {
			t.Error("no app container has a base URL pointing at the sidecar")
		}
	}
	if !found {
		t.Fatal("sidecar.yaml has no callfix container")
	}
}

func TestKubernetes_CallfixContainersAreHardened(t *testing.T) {
	for _, c := range callfixContainers(t) {
		sc := asMap(c.c["securityContext"])
		psc := asMap(c.pod.spec["securityContext"])
		either := func(key string) any {
			if v, ok := sc[key]; ok {
				return v
			}
			return psc[key]
		}
		if either("runAsNonRoot") != true {
			t.Errorf("%s: runAsNonRoot is not true", c.name())
		}
		if u, ok := asInt(either("runAsUser")); ok && u == 0 {
			t.Errorf("%s: runAsUser 0", c.name())
		}
		if sc["readOnlyRootFilesystem"] != true {
			t.Errorf("%s: readOnlyRootFilesystem is not true", c.name())
		}
		if sc["allowPrivilegeEscalation"] != false {
			t.Errorf("%s: allowPrivilegeEscalation is not false", c.name())
		}
		if !slices.ContainsFunc(asList(dig(sc, "capabilities", "drop")), func(v any) bool { return str(v) == "ALL" }) {
			t.Errorf("%s: capabilities do not drop ALL", c.name())
		}
		if str(dig(either("seccompProfile"), "type")) != "RuntimeDefault" {
			t.Errorf("%s: seccompProfile is not RuntimeDefault", c.name())
		}
		res := asMap(c.c["resources"])
		for _, k := range []string{"requests.cpu", "requests.memory", "limits.memory"} {
			a, b, _ := strings.Cut(k, ".")
			if str(dig(res, a, b)) == "" {
				t.Errorf("%s: resources.%s is not set", c.name(), k)
			}
		}
		limit, lok := quantity(str(dig(res, "limits", "memory")))
		for _, e := range asList(c.c["env"]) {
			if str(asMap(e)["name"]) != "GOMEMLIMIT" {
				continue
			}
			soft, ok := quantity(str(asMap(e)["value"]))
			if !ok || !lok || soft >= limit {
				t.Errorf("%s: GOMEMLIMIT=%v must be below limits.memory %v", c.name(), asMap(e)["value"], dig(res, "limits", "memory"))
			}
		}
	}
}

func TestKubernetes_ConfigMapsAreMountedWithoutSubPath(t *testing.T) {
	mounts := 0
	for _, p := range pods(t) {
		for _, c := range p.containers() {
			for _, vm := range asList(c.c["volumeMounts"]) {
				m := asMap(vm)
				vol := p.volume(str(m["name"]))
				if vol == nil {
					t.Errorf("%s: volumeMount %s has no volume", c.name(), str(m["name"]))
					continue
				}
				isCM := vol["configMap"] != nil
				for _, src := range asList(dig(vol, "projected", "sources")) {
					isCM = isCM || asMap(src)["configMap"] != nil
				}
				if !isCM {
					continue
				}
				mounts++
				if str(m["subPath"]) != "" || str(m["subPathExpr"]) != "" {
					t.Errorf("%s: ConfigMap volume %s is mounted with subPath: it would never receive updates and hot reload would break", c.name(), str(m["name"]))
				}
			}
		}
	}
	if mounts < 2 {
		t.Errorf("found %d ConfigMap mounts, want at least one per manifest", mounts)
	}
}

func TestKubernetes_StandaloneServiceAutoscalerAndBudget(t *testing.T) {
	const f = "kubernetes/standalone.yaml"
	docs := yamlDocs(t, f)
	byKind := map[string][]map[string]any{}
	for _, d := range docs {
		byKind[str(d["kind"])] = append(byKind[str(d["kind"])], d)
	}
	for _, k := range []string{"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} {
		if len(byKind[k]) != 1 {
			t.Fatalf("%s has %d %s, want 1", f, len(byKind[k]), k)
		}
	}
	dep, svc, hpa, pdb := byKind["Deployment"][0], byKind["Service"][0], byKind["HorizontalPodAutoscaler"][0], byKind["PodDisruptionBudget"][0]
	podLabels := asMap(dig(dep, "spec", "template", "metadata", "labels"))
	pod := &podRef{file: f, workload: dep, spec: asMap(dig(dep, "spec", "template", "spec")), docs: docs}
	var cf map[string]any
	for _, c := range pod.containers() {
		if c.isCallfix() {
			cf = c.c
		}
	}
	if cf == nil {
		t.Fatal("the Deployment has no callfix container")
	}
	if mode := str(asMap(byKind["ConfigMap"][0]["data"])["config.yaml"]); !strings.Contains(mode, "mode: audit") {
		t.Error("the ConfigMap's config.yaml is not the mode: audit example")
	}

	replicas, _ := asInt(dig(dep, "spec", "replicas"))
	if replicas != 2 {
		t.Errorf("replicas = %d, want 2", replicas)
	}
	if asList(pod.spec["topologySpreadConstraints"]) == nil && dig(pod.spec, "affinity", "podAntiAffinity") == nil {
		t.Error("the Deployment neither spreads its replicas (topologySpreadConstraints) nor uses podAntiAffinity")
	}

	// Service: the proxy port only, never the admin port.
	if !selects(asMap(dig(svc, "spec", "selector")), podLabels) {
		t.Errorf("the Service's selector %v does not select the Deployment's pods %v", dig(svc, "spec", "selector"), podLabels)
	}
	proxy := false
	for _, sp := range asList(dig(svc, "spec", "ports")) {
		m := asMap(sp)
		port, _ := asInt(m["port"])
		target := m["targetPort"]
		if target == nil {
			target = port
		}
		tp := resolvePort(cf, target)
		if port == wantAdminPort || tp == wantAdminPort || str(target) == "admin" {
			t.Errorf("the Service exposes the admin port (%v -> %v): /metrics must stay off the Service", port, target)
		}
		if tp == wantProxyPort {
			proxy = true
		}
	}
	if !proxy {
		t.Errorf("the Service has no port targeting the proxy's %d", wantProxyPort)
	}

	// HPA: CPU 70% of the Deployment's request.
	if str(dig(hpa, "apiVersion")) != "autoscaling/v2" {
		t.Errorf("the HPA is %s, want autoscaling/v2", str(hpa["apiVersion"]))
	}
	if str(dig(hpa, "spec", "scaleTargetRef", "kind")) != "Deployment" || str(dig(hpa, "spec", "scaleTargetRef", "name")) != str(dig(dep, "metadata", "name")) {
		t.Errorf("the HPA targets %v, not the Deployment", dig(hpa, "spec", "scaleTargetRef"))
	}
	cpu := false
	for _, m := range asList(dig(hpa, "spec", "metrics")) {
		if str(dig(m, "resource", "name")) == "cpu" && str(dig(m, "resource", "target", "type")) == "Utilization" {
			u, _ := asInt(dig(m, "resource", "target", "averageUtilization"))
			cpu = u == 70
		}
	}
	if !cpu {
		t.Error("the HPA does not scale on 70% CPU utilization")
	}
	if str(dig(cf, "resources", "requests", "cpu")) == "" {
		t.Error("the HPA measures CPU against requests.cpu, which is not set")
	}
	if minR, _ := asInt(dig(hpa, "spec", "minReplicas")); minR < 2 {
		t.Errorf("HPA minReplicas = %d, want at least 2", minR)
	}

	// PDB: at least one replica through voluntary disruptions, without blocking drains.
	if v, _ := asInt(dig(pdb, "spec", "minAvailable")); v != 1 || v >= replicas {
		t.Errorf("PDB minAvailable = %v, want 1 (below the %d replicas)", dig(pdb, "spec", "minAvailable"), replicas)
	}
	if !selects(asMap(dig(pdb, "spec", "selector", "matchLabels")), podLabels) {
		t.Error("the PodDisruptionBudget does not select the Deployment's pods")
	}
}

func selects(selector, labels map[string]any) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if str(labels[k]) != str(v) {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// Dockerfile and Makefile

type dfInstr struct {
	cmd  string // upper case
	args string
	line int
}

type dfStage struct {
	from, name string
	instrs     []dfInstr
}

func parseDockerfile(t *testing.T) []dfStage {
	t.Helper()
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var stages []dfStage
	var cur strings.Builder
	start := 0
	flush := func(line int) {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		if s == "" {
			return
		}
		cmd, args, _ := strings.Cut(s, " ")
		in := dfInstr{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: line}
		if in.cmd == "FROM" {
			w := words(t, in.args)
			w = slices.DeleteFunc(w, func(s string) bool { return strings.HasPrefix(s, "--") })
			st := dfStage{from: w[0]}
			if len(w) == 3 && strings.EqualFold(w[1], "AS") {
				st.name = w[2]
			}
			stages = append(stages, st)
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("Dockerfile:%d: %s before FROM", line, in.cmd)
			}
			return
		}
		stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue // comments, also inside continued instructions
		}
		if cur.Len() == 0 {
			start = n
		}
		if body, ok := strings.CutSuffix(strings.TrimRight(line, " \t"), `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		flush(start)
	}
	flush(start)
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a runtime stage", len(stages))
	}
	return stages
}

// dockerfileEnv is the runtime stage's ENV, as KEY=VALUE.
func dockerfileEnv(t *testing.T) []string {
	t.Helper()
	stages := parseDockerfile(t)
	var env []string
	for _, in := range stages[len(stages)-1].instrs {
		if in.cmd != "ENV" {
			continue
		}
		w := words(t, in.args)
		if len(w) >= 2 && !strings.Contains(w[0], "=") {
			env = append(env, w[0]+"="+strings.Join(w[1:], " "))
			continue
		}
		env = append(env, w...)
	}
	return env
}

// buildCommand is a `go build` command line: its environment assignments and
// its words, with $(VERSION) / ${VERSION} written as VERSION.
type buildCommand struct {
	env  map[string]string
	args []string
}

var envAssignRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var versionVarRE = regexp.MustCompile(`\$\(VERSION\)|\$\{VERSION\}|\$VERSION\b`)

func splitCommand(t *testing.T, line string) buildCommand {
	t.Helper()
	w := words(t, versionVarRE.ReplaceAllString(line, "VERSION"))
	bc := buildCommand{env: map[string]string{}}
	for len(w) > 0 {
		k, v, ok := strings.Cut(w[0], "=")
		if !ok || !envAssignRE.MatchString(k) {
			break
		}
		bc.env[k] = v
		w = w[1:]
	}
	bc.args = w
	return bc
}

// withoutOutput drops the -o operand, the one thing allowed to differ.
func (bc buildCommand) withoutOutput() []string {
	var out []string
	for i := 0; i < len(bc.args); i++ {
		if bc.args[i] == "-o" {
			i++
			continue
		}
		out = append(out, bc.args[i])
	}
	return out
}

func makefileBuild(t *testing.T) buildCommand {
	t.Helper()
	b, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	assign := regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*(?::=|\?=|=)\s*(.*)$`)
	var recipe []string
	inBuild := false
	for _, line := range strings.Split(string(b), "\n") {
		if inBuild {
			if strings.HasPrefix(line, "\t") {
				recipe = append(recipe, strings.TrimSpace(line))
				continue
			}
			inBuild = false
		}
		if m := assign.FindStringSubmatch(line); m != nil {
			vars[m[1]] = strings.TrimSpace(m[2])
		}
		if strings.HasPrefix(line, "build:") {
			inBuild = true
		}
	}
	if len(recipe) != 1 {
		t.Fatalf("the Makefile's build target has %d recipe lines, want 1: %q", len(recipe), recipe)
	}
	ref := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	line := recipe[0]
	for range 10 {
		line = ref.ReplaceAllStringFunc(line, func(s string) string {
			name := s[2 : len(s)-1]
			if v, ok := vars[name]; ok && name != "VERSION" {
				return v
			}
			return s
		})
	}
	line = strings.ReplaceAll(line, "$$", "$")
	bc := splitCommand(t, line)
	if len(bc.args) < 2 || bc.args[0] != "go" || bc.args[1] != "build" {
		t.Fatalf("the Makefile's build recipe is not a go build: %q", line)
	}
	return bc
}

func dockerfileBuild(t *testing.T) buildCommand {
	t.Helper()
	stages := parseDockerfile(t)
	var runs []string
	for _, st := range stages[:len(stages)-1] {
		for _, in := range st.instrs {
			if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
				runs = append(runs, in.args)
			}
		}
	}
	if len(runs) != 1 {
		t.Fatalf("the Dockerfile's build stages have %d RUN ... go build, want 1", len(runs))
	}
	line := runs[0]
	// RUN options (--mount=..., --network=...) come before the command.
	for strings.HasPrefix(line, "--") {
		_, line, _ = strings.Cut(line, " ")
		line = strings.TrimSpace(line)
	}
	bc := splitCommand(t, line)
	if len(bc.args) < 2 || bc.args[0] != "go" || bc.args[1] != "build" {
		t.Fatalf("the Dockerfile's RUN is not a plain go build: %q", line)
	}
	return bc
}

func TestDockerfile_BuildsLikeTheMakefile(t *testing.T) {
	mk, df := makefileBuild(t), dockerfileBuild(t)
	dfEnv := map[string]string{}
	for k, v := range df.env {
		if k == "GOOS" || k == "GOARCH" || k == "GOARM" {
			continue // cross-compilation for the target platform
		}
		dfEnv[k] = v
	}
	if fmt.Sprint(dfEnv) != fmt.Sprint(mk.env) {
		t.Errorf("build environment differs:\n  Makefile:   %v\n  Dockerfile: %v", mk.env, dfEnv)
	}
	if a, b := mk.withoutOutput(), df.withoutOutput(); !slices.Equal(a, b) {
		t.Errorf("build flags differ:\n  Makefile:   %q\n  Dockerfile: %q", a, b)
	}
	if !slices.Contains(df.args, "-o") {
		t.Error("the Dockerfile's go build has no -o")
	}
	if !strings.Contains(strings.Join(mk.args, " "), "Version=VERSION") {
		t.Errorf("the Makefile's build does not link $(VERSION): %q", mk.args)
	}
}

// TestDockerfile_BuildCommandBuilds runs the Dockerfile's go build here (no
// Docker engine is needed), then checks the binary: static, versioned, and
// taking every flag the deployment files pass to it.
func TestDockerfile_BuildCommandBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bc := dockerfileBuild(t)
	out := filepath.Join(t.TempDir(), "callfix")
	args := slices.Clone(bc.args)
	for i := range args {
		args[i] = strings.ReplaceAll(args[i], "Version=VERSION", "Version=deploytest")
		if args[i] == "-o" && i+1 < len(args) {
			args[i+1] = out
		}
	}
	env := os.Environ()
	for k, v := range bc.env {
		if strings.HasPrefix(v, "$") {
			continue // $TARGETOS and friends: set by BuildKit only
		}
		env = append(env, k+"="+v)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go tool in PATH: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, args[1:]...)
	cmd.Dir = ".."
	cmd.Env = env
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, b)
	}

	if runtime.GOOS == "linux" {
		f, err := elf.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Error("the binary has an ELF interpreter: it is not static and will not run on distroless/static")
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("the binary links shared libraries %v", libs)
		}
		if f.Section(".symtab") != nil {
			t.Error("the binary keeps its symbol table: -s did not apply")
		}
		f.Close()
	}

	run := func(args ...string) string {
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, out, args...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Env = []string{}
		if err := cmd.Run(); err != nil {
			t.Fatalf("callfix %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return stdout.String() + stderr.String()
	}
	if v := run("version"); strings.TrimSpace(v) != "callfix deploytest" {
		t.Errorf("callfix version = %q: the -X version flag did not apply", v)
	}

	t.Run("every flag in the deployment files exists", func(t *testing.T) {
		help := run("serve", "--help")
		flags := map[string]bool{}
		for _, m := range regexp.MustCompile(`(?m)^\s+--?([a-z][a-z0-9-]*)`).FindAllStringSubmatch(help, -1) {
			flags[m[1]] = true
		}
		if !flags["config"] || !flags["listen"] || !flags["admin-listen"] {
			t.Fatalf("could not read the flags from callfix serve --help:\n%s", help)
		}
		uses := callfixCommandLines(t)
		if len(uses) < 4 {
			t.Errorf("found %d callfix command lines in deploy/, want the two manifests, compose and systemd", len(uses))
		}
		for where, argv := range uses {
			if len(argv) == 0 || argv[0] != "serve" {
				t.Errorf("%s: callfix %q: want the serve subcommand first", where, argv)
			}
			for _, a := range argv {
				if !strings.HasPrefix(a, "-") {
					continue
				}
				name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
				if !flags[name] {
					t.Errorf("%s: callfix serve has no flag %s", where, a)
				}
			}
		}
	})
}

// callfixCommandLines returns every set of arguments callfix is started with
// in deploy/, by where it is.
func callfixCommandLines(t *testing.T) map[string][]string {
	out := map[string][]string{}
	for _, c := range callfixContainers(t) {
		out[c.name()] = containerArgs(c.c)
	}
	compose := yamlDocs(t, "compose.yaml")[0]
	if cmd := dig(compose, "services", "callfix", "command"); cmd != nil {
		out["compose.yaml:callfix"] = stringList(t, cmd)
	}
	exe := unitValues(t)["Service"]["ExecStart"]
	if len(exe) != 1 {
		t.Fatalf("callfix.service has %d ExecStart, want 1", len(exe))
	}
	w := words(t, exe[0])
	if path.Base(w[0]) != "callfix" {
		t.Fatalf("ExecStart runs %s, not callfix", w[0])
	}
	out["systemd/callfix.service"] = w[1:]
	return out
}

// containerArgs is the container's command line after the entrypoint.
func containerArgs(c map[string]any) []string {
	var argv []string
	for _, a := range asList(c["command"]) {
		argv = append(argv, str(a))
	}
	if len(argv) > 0 {
		argv = argv[1:] // the binary
	}
	for _, a := range asList(c["args"]) {
		argv = append(argv, str(a))
	}
	return argv
}

// flagValue returns the value of --name in argv.
func flagValue(argv []string, name string) string {
	for i, a := range argv {
		n := strings.TrimLeft(a, "-")
		if n == name && i+1 < len(argv) && a != n {
			return argv[i+1]
		}
		if v, ok := strings.CutPrefix(n, name+"="); ok && a != n {
			return v
		}
	}
	return ""
}

func TestDockerfile_RuntimeStage(t *testing.T) {
	stages := parseDockerfile(t)
	build, rt := stages[0], stages[len(stages)-1]

	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("no go directive in go.mod")
	}
	if want := "golang:" + string(m[1]); build.from != want {
		t.Errorf("the build stage is FROM %s, want %s (go.mod says go %s)", build.from, want, m[1])
	}
	if rt.from != distroless {
		t.Errorf("the runtime stage is FROM %s, want %s", rt.from, distroless)
	}

	byCmd := map[string][]dfInstr{}
	for _, st := range stages {
		for _, in := range st.instrs {
			if in.cmd == "HEALTHCHECK" {
				t.Errorf("Dockerfile:%d: HEALTHCHECK: orchestrators probe the admin port, and distroless has nothing to run one", in.line)
			}
		}
	}
	for _, in := range rt.instrs {
		byCmd[in.cmd] = append(byCmd[in.cmd], in)
	}

	users := byCmd["USER"]
	if len(users) == 0 {
		t.Fatal("the runtime stage has no USER")
	}
	user := users[len(users)-1].args
	name, _, _ := strings.Cut(user, ":")
	if name == "root" || name == "0" || name == "" {
		t.Errorf("USER %s: the image must not run as root", user)
	}
	if name != "65532" {
		t.Errorf("USER %s: want 65532 (numeric, so runAsNonRoot can verify it)", user)
	}

	exposed := map[string]bool{}
	for _, in := range byCmd["EXPOSE"] {
		for _, p := range strings.Fields(in.args) {
			exposed[strings.TrimSuffix(p, "/tcp")] = true
		}
	}
	for _, p := range []int{wantProxyPort, wantAdminPort} {
		if !exposed[strconv.Itoa(p)] {
			t.Errorf("the image does not EXPOSE %d", p)
		}
	}

	labels := map[string]string{}
	for _, in := range byCmd["LABEL"] {
		for _, w := range words(t, in.args) {
			k, v, _ := strings.Cut(w, "=")
			labels[k] = v
		}
	}
	for _, k := range []string{"title", "description", "source", "licenses", "version"} {
		if labels["org.opencontainers.image."+k] == "" {
			t.Errorf("no LABEL org.opencontainers.image.%s", k)
		}
	}
	if v := labels["org.opencontainers.image.version"]; v != "${VERSION}" && v != "$VERSION" {
		t.Errorf("org.opencontainers.image.version = %q, want ${VERSION}", v)
	}
	if !slices.ContainsFunc(byCmd["ARG"], func(in dfInstr) bool { return strings.HasPrefix(in.args, "VERSION") }) {
		t.Error("the runtime stage has no ARG VERSION, so the version label would be empty")
	}

	env := map[string]string{}
	for _, kv := range dockerfileEnv(t) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	admin := env["CALLFIX_ADMIN_LISTEN"]
	if admin == "" || config.IsLoopback(hostOf(t, admin)) || portOf(t, admin) != wantAdminPort {
		t.Errorf("ENV CALLFIX_ADMIN_LISTEN=%q: want a non-loopback address on %d, so that kubelet probes reach it", admin, wantAdminPort)
	}

	// The binary the build stage copies is the one the entrypoint runs.
	var copied string
	for _, in := range byCmd["COPY"] {
		if w := words(t, in.args); len(w) >= 3 && strings.HasPrefix(w[0], "--from=") {
			copied = w[len(w)-1]
		}
	}
	eps := byCmd["ENTRYPOINT"]
	if len(eps) == 0 {
		t.Fatal("no ENTRYPOINT")
	}
	var ep []string
	if err := yaml.Unmarshal([]byte(eps[len(eps)-1].args), &ep); err != nil || len(ep) == 0 {
		t.Fatalf("ENTRYPOINT %s is not the exec (JSON) form: %v", eps[len(eps)-1].args, err)
	}
	if ep[0] != copied {
		t.Errorf("ENTRYPOINT runs %s but the build stage's binary is copied to %q", ep[0], copied)
	}
}

// ---------------------------------------------------------------------------
// systemd

// unitValues parses the unit: section → key → values in order.
func unitValues(t *testing.T) map[string]map[string][]string {
	t.Helper()
	b, err := os.ReadFile("systemd/callfix.service")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string][]string{}
	section := ""
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			section = strings.Trim(line, "[]")
			out[section] = map[string][]string{}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			t.Fatalf("callfix.service:%d: not KEY=VALUE in a section: %q", i+1, line)
		}
		out[section][strings.TrimSpace(k)] = append(out[section][strings.TrimSpace(k)], strings.TrimSpace(v))
	}
	return out
}

func TestSystemd_Unit(t *testing.T) {
	u := unitValues(t)
	svc := u["Service"]
	if svc == nil {
		t.Fatal("no [Service] section")
	}
	want := map[string]string{
		"DynamicUser": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"PrivateDevices": "yes", "NoNewPrivileges": "yes", "CapabilityBoundingSet": "", "AmbientCapabilities": "",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "SystemCallFilter": "@system-service",
		"MemoryDenyWriteExecute": "yes", "LockPersonality": "yes", "RestrictNamespaces": "yes",
		"ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes",
		"ProtectControlGroups": "yes", "ProtectClock": "yes", "ProtectHostname": "yes",
		"RestrictRealtime": "yes", "RestrictSUIDSGID": "yes", "UMask": "0077",
		"ExecStart":       "/usr/local/bin/callfix serve --config /etc/callfix/config.yaml",
		"ExecReload":      "/bin/kill -HUP $MAINPID",
		"KillSignal":      "SIGTERM",
		"Restart":         "on-failure",
		"EnvironmentFile": "-/etc/callfix/env",
	}
	for k, v := range want {
		got, ok := svc[k]
		if !ok {
			t.Errorf("[Service] has no %s=", k)
			continue
		}
		if got[len(got)-1] != v {
			t.Errorf("[Service] %s=%s, want %s=%s", k, got[len(got)-1], k, v)
		}
	}
	if r := strings.Join(svc["ExecReload"], " "); !strings.Contains(r, "-HUP") || !strings.Contains(r, "$MAINPID") {
		t.Errorf("ExecReload=%s does not send SIGHUP to callfix", r)
	}
	stop := svc["TimeoutStopSec"]
	if len(stop) == 0 {
		t.Fatal("no TimeoutStopSec")
	}
	d, err := systemdDuration(stop[len(stop)-1])
	if err != nil {
		t.Fatal(err)
	}
	if grace, delay := config.Defaults().Server.ShutdownGrace, config.Defaults().Server.ShutdownDelay; d <= delay+grace {
		t.Errorf("TimeoutStopSec=%s is not longer than server.shutdown_delay %v + server.shutdown_grace %v", stop[len(stop)-1], delay, grace)
	}
	if len(u["Install"]["WantedBy"]) == 0 {
		t.Error("no [Install] WantedBy=")
	}
}

// systemdDuration reads "30", "30s", "1min 30s".
func systemdDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(strings.NewReplacer("min", "m", " ", "").Replace(s))
}

// ---------------------------------------------------------------------------
// Compose and the collector

func TestCompose_StackIsWired(t *testing.T) {
	docs := yamlDocs(t, "compose.yaml")
	if len(docs) != 1 {
		t.Fatalf("compose.yaml has %d documents, want 1", len(docs))
	}
	services := asMap(docs[0]["services"])
	cf := asMap(services["callfix"])
	if cf == nil {
		t.Fatal("compose.yaml has no callfix service")
	}

	// The build: context and Dockerfile exist.
	ctxDir := str(dig(cf, "build", "context"))
	dockerfile := str(dig(cf, "build", "dockerfile"))
	if ctxDir != ".." || dockerfile != "deploy/Dockerfile" {
		t.Errorf("callfix builds from context %q with %q, want .. and deploy/Dockerfile", ctxDir, dockerfile)
	}
	if _, err := os.Stat(filepath.Join(ctxDir, dockerfile)); err != nil {
		t.Errorf("the Dockerfile of the build does not exist: %v", err)
	}

	// Which service is the collector, which is Jaeger.
	collector := serviceWithImage(services, strings.Contains, "opentelemetry-collector")
	jaeger := serviceWithImage(services, strings.Contains, "jaegertracing/")
	if collector == "" || jaeger == "" {
		t.Fatalf("compose.yaml needs an OpenTelemetry Collector and Jaeger service; found collector %q, jaeger %q", collector, jaeger)
	}

	// The collector mounts the config file that exists here, where its command reads it.
	col := asMap(services[collector])
	mounted := ""
	for _, v := range asList(col["volumes"]) {
		src, dst, _ := strings.Cut(str(v), ":")
		dst, _, _ = strings.Cut(dst, ":")
		if path.Clean(src) == collectorFile {
			mounted = dst
			if _, err := os.Stat(src); err != nil {
				t.Errorf("the collector mounts %s, which does not exist: %v", src, err)
			}
		}
	}
	if mounted == "" {
		t.Fatalf("the collector does not mount ./%s", collectorFile)
	}
	if cmd := strings.Join(stringList(t, col["command"]), " "); cmd != "" && !strings.Contains(cmd, mounted) {
		t.Errorf("the collector's command %q does not read the mounted %s", cmd, mounted)
	}

	// callfix exports to the collector's OTLP/HTTP receiver.
	env := composeEnv(t, cf["environment"])
	u, err := url.Parse(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
	if err != nil || u.Hostname() != collector || u.Port() != "4318" {
		t.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT=%q, want http://%s:4318", env["OTEL_EXPORTER_OTLP_ENDPOINT"], collector)
	}
	if env["OTEL_SERVICE_NAME"] != "callfix" {
		t.Errorf("OTEL_SERVICE_NAME=%q, want callfix", env["OTEL_SERVICE_NAME"])
	}
	if !publishes(t, cf, wantProxyPort) {
		t.Errorf("callfix does not publish %d", wantProxyPort)
	}
	if !publishes(t, asMap(services[jaeger]), 16686) {
		t.Error("Jaeger does not publish its UI on 16686")
	}
	if g := str(cf["stop_grace_period"]); g == "" {
		t.Error("callfix has no stop_grace_period: Compose's 10s default cuts server.shutdown_grace short")
	} else if d, err := time.ParseDuration(g); err != nil || d <= config.Defaults().Server.ShutdownDelay+config.Defaults().Server.ShutdownGrace {
		t.Errorf("stop_grace_period %s is not longer than server.shutdown_delay + server.shutdown_grace", g)
	}

	// The collector config: OTLP in on 4317 (gRPC) and 4318 (HTTP), out to Jaeger.
	cc := yamlDocs(t, collectorFile)[0]
	for proto, port := range map[string]int{"grpc": 4317, "http": 4318} {
		ep := str(dig(cc, "receivers", "otlp", "protocols", proto, "endpoint"))
		if ep == "" || portOf(t, ep) != port || config.IsLoopback(hostOf(t, ep)) {
			t.Errorf("%s: otlp %s receiver endpoint %q, want 0.0.0.0:%d", collectorFile, proto, ep, port)
		}
	}
	pipeline := asMap(dig(cc, "service", "pipelines", "traces"))
	if !slices.Contains(stringList(t, pipeline["receivers"]), "otlp") {
		t.Errorf("%s: the traces pipeline does not receive from otlp", collectorFile)
	}
	toJaeger := false
	for _, e := range stringList(t, pipeline["exporters"]) {
		exp := asMap(dig(cc, "exporters", e))
		if exp == nil && dig(cc, "exporters", e) == nil {
			t.Errorf("%s: the pipeline names exporter %s, which is not defined", collectorFile, e)
		}
		typ, _, _ := strings.Cut(e, "/")
		if ep := str(exp["endpoint"]); (typ == "otlp" || typ == "otlp_grpc" || typ == "otlphttp" || typ == "otlp_http") && strings.Contains(ep, jaeger+":") {
			toJaeger = true
		}
	}
	if !toJaeger {
		t.Errorf("%s: no OTLP exporter in the traces pipeline sends to the %s service", collectorFile, jaeger)
	}
}

func composeEnv(t *testing.T, v any) map[string]string {
	out := map[string]string{}
	if m := asMap(v); m != nil {
		for k, v := range m {
			out[k] = str(v)
		}
		return out
	}
	for _, kv := range stringList(t, v) {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	return out
}

// publishes reports whether a Compose service publishes container port p.
func publishes(t *testing.T, svc map[string]any, p int) bool {
	for _, e := range asList(svc["ports"]) {
		if m := asMap(e); m != nil {
			if n, _ := asInt(m["target"]); n == p {
				return true
			}
			continue
		}
		s := str(e)
		s, _, _ = strings.Cut(s, "/")
		parts := strings.Split(s, ":")
		if n, err := strconv.Atoi(parts[len(parts)-1]); err == nil && n == p {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// helpers

func yamlFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			out = append(out, filepath.ToSlash(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// yamlDocs decodes every document of a YAML file.
func yamlDocs(t *testing.T, file string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []map[string]any
	for i := 1; ; i++ {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", file, i, err)
		}
		if d != nil {
			out = append(out, d)
		}
	}
}

// dig walks nested maps by key.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m := asMap(v)
		if m == nil {
			return nil
		}
		v = m[k]
	}
	return v
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }
func asList(v any) []any         { l, _ := v.([]any); return l }

func str(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

func asInt(v any) (int, bool) {
	switch v := v.(type) {
	case int:
		return v, true
	case int64:
		return int(v), true
	case uint64:
		return int(v), true
	case float64:
		return int(v), v == float64(int(v))
	}
	return 0, false
}

func stringList(t *testing.T, v any) []string {
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		return words(t, v)
	case []any:
		out := make([]string, len(v))
		for i, e := range v {
			out[i] = str(e)
		}
		return out
	}
	t.Fatalf("%v is neither a string nor a list", v)
	return nil
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("address %q: port %q is not a number", addr, p)
	}
	return n
}

// serviceWithImage returns the name of a compose service whose image
// matches s (match is strings.Contains or strings.HasPrefix), or "".
func serviceWithImage(services map[string]any, match func(img, s string) bool, s string) string {
	found := ""
	for name, svc := range services {
		if match(str(asMap(svc)["image"]), s) {
			found = name
		}
	}
	return found
}

func hostOf(t *testing.T, addr string) string {
	t.Helper()
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return h
}

// quantity reads a memory size: a Kubernetes quantity (64Mi) or a Go
// GOMEMLIMIT value (56MiB).
func quantity(s string) (int64, bool) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "B")
	mult := int64(1)
	for suffix, m := range map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30} {
		if v, ok := strings.CutSuffix(s, suffix); ok {
			s, mult = v, m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err == nil
}

// words splits a command line as a POSIX shell would, without expansions:
// quotes group, backslashes escape, $ stays literal.
func words(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				t.Fatalf("unterminated ' in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				t.Fatalf("unterminated \" in %q", s)
			}
			inWord = true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}
