// Command deploycheck checks the deployment examples shipped in this repository:
// that every YAML file parses, that the Kubernetes manifests decode strictly into
// client-go's typed objects, and that they and the GitHub
// Actions workflow keep the settings the docs promise (a ConfigMap mounted as a
// directory, a read-only root filesystem, probes, the plan comment marker, ...).
//
// It is a CI helper run by scripts/check-k8s.sh, not part of linq-sync, and it is
// not a general Kubernetes or workflow linter: it asserts this repository's choices.
//
// Usage:
//
//	go run ./scripts/deploycheck yaml FILE...
//	go run ./scripts/deploycheck k8s [-extract DIR] FILE...
//	go run ./scripts/deploycheck workflow FILE
//	go run ./scripts/deploycheck step FILE JOB STEP   (prints that step's run: script)
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one subcommand and returns the exit code: 0 when every check
// passes, 1 when one fails, 2 on bad usage.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) < 1 {
		fmt.Fprintln(stderr, "usage: deploycheck yaml|k8s|workflow [flags] FILE...")
		return 2
	}
	var problems []string
	switch args[0] {
	case "yaml":
		for _, f := range args[1:] {
			if _, err := readDocs(f); err != nil {
				problems = append(problems, err.Error())
			}
		}
	case "k8s":
		fs := flag.NewFlagSet("k8s", flag.ContinueOnError)
		fs.SetOutput(stderr)
		extract := fs.String("extract", "", "write each ConfigMap data file into `dir` (to validate it)")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		var docs []doc
		for _, f := range fs.Args() {
			d, err := readDocs(f)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			docs = append(docs, d...)
		}
		problems = append(problems, checkKubernetes(docs)...)
		typed, bad := decodeTyped(fs.Args())
		problems = append(problems, bad...)
		if len(bad) == 0 {
			problems = append(problems, checkTyped(typed)...)
		}
		if *extract != "" && len(problems) == 0 {
			if err := extractConfigMaps(docs, *extract); err != nil {
				problems = append(problems, err.Error())
			}
		}
	case "workflow":
		if len(args) != 2 {
			fmt.Fprintln(stderr, "usage: deploycheck workflow FILE")
			return 2
		}
		docs, err := readDocs(args[1])
		if err != nil {
			problems = append(problems, err.Error())
			break
		}
		problems = append(problems, checkWorkflow(args[1], docs)...)
	case "step":
		if len(args) != 4 {
			fmt.Fprintln(stderr, "usage: deploycheck step FILE JOB STEP")
			return 2
		}
		script, err := stepScript(args[1], args[2], args[3])
		if err != nil {
			fmt.Fprintf(stderr, "deploycheck: %v\n", err)
			return 1
		}
		fmt.Fprint(stdout, script)
		return 0
	default:
		fmt.Fprintf(stderr, "deploycheck: unknown command %q\n", args[0])
		return 2
	}
	for _, p := range problems {
		fmt.Fprintf(stderr, "deploycheck: %s\n", p)
	}
	if len(problems) > 0 {
		return 1
	}
	fmt.Fprintf(stdout, "deploycheck %s: ok\n", args[0])
	return 0
}

// doc is one YAML document of a file, decoded into maps, slices and scalars.
type doc struct {
	file string
	root map[string]any
}

// readDocs parses every document of a file. A document that is not a mapping,
// a syntax error or a duplicate key is an error.
func readDocs(file string) ([]doc, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []doc
	for i := 0; ; i++ {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, i+1, err)
		}
		if v == nil {
			continue // an empty document, as after a leading "---"
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: document %d: not a mapping", file, i+1)
		}
		docs = append(docs, doc{file: file, root: m})
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("%s: no YAML documents", file)
	}
	return docs, nil
}

// get walks a path of map keys and slice indexes; ok is false when any step is
// missing or of the wrong type.
func get(v any, path ...any) (any, bool) {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[k]; !ok {
				return nil, false
			}
		case int:
			s, ok := v.([]any)
			if !ok || k < 0 || k >= len(s) {
				return nil, false
			}
			v = s[k]
		}
	}
	return v, true
}

func getString(v any, path ...any) string {
	x, _ := get(v, path...)
	s, _ := x.(string)
	return s
}

func getList(v any, path ...any) []any {
	x, _ := get(v, path...)
	s, _ := x.([]any)
	return s
}

// checker collects problems, each prefixed with where it was found.
type checker struct{ problems []string }

func (c *checker) fail(where, format string, args ...any) {
	c.problems = append(c.problems, where+": "+fmt.Sprintf(format, args...))
}

// expect records a problem when got differs from want.
func (c *checker) expect(where, what string, got, want any) {
	if fmt.Sprint(got) != fmt.Sprint(want) {
		c.fail(where, "%s is %v, want %v", what, got, want)
	}
}

// checkKubernetes asserts the sidecar example's settings.
func checkKubernetes(docs []doc) []string {
	c := &checker{}
	var deploy *doc
	kinds := map[string]int{}
	for i := range docs {
		d := &docs[i]
		kind := getString(d.root, "kind")
		if kind == "" || getString(d.root, "apiVersion") == "" || getString(d.root, "metadata", "name") == "" {
			c.fail(d.file, "a document lacks apiVersion, kind or metadata.name")
			continue
		}
		kinds[kind]++
		switch kind {
		case "Deployment":
			deploy = d
		case "ConfigMap":
			data, _ := get(d.root, "data")
			m, _ := data.(map[string]any)
			if _, ok := m["subscriptions.yaml"].(string); !ok {
				c.fail(d.file, "ConfigMap %s has no data.subscriptions.yaml", getString(d.root, "metadata", "name"))
			}
		case "Secret":
			if getString(d.root, "stringData", "token") == "" {
				c.fail(d.file, "Secret %s has no stringData.token", getString(d.root, "metadata", "name"))
			}
		}
	}
	for _, k := range []string{"Deployment", "ConfigMap", "Secret", "ServiceAccount", "Role", "RoleBinding"} {
		if kinds[k] != 1 {
			c.fail("deploy/kubernetes", "want exactly one %s, found %d", k, kinds[k])
		}
	}
	if deploy == nil {
		return c.problems
	}
	checkDeployment(c, deploy)
	return c.problems
}

func checkDeployment(c *checker, d *doc) {
	where := d.file + ": Deployment " + getString(d.root, "metadata", "name")
	pod, _ := get(d.root, "spec", "template", "spec")
	ann, _ := get(d.root, "spec", "template", "metadata", "annotations")
	c.expect(where, `annotation prometheus.io/scrape`, getString(ann, "prometheus.io/scrape"), "true")
	c.expect(where, `annotation prometheus.io/port`, getString(ann, "prometheus.io/port"), "9464")
	c.expect(where, `annotation prometheus.io/path`, getString(ann, "prometheus.io/path"), "/metrics")

	volumes := map[string]map[string]any{}
	for _, v := range getList(pod, "volumes") {
		m, _ := v.(map[string]any)
		volumes[getString(m, "name")] = m
	}

	containers := getList(pod, "containers")
	var sidecar map[string]any
	for _, ct := range containers {
		m, _ := ct.(map[string]any)
		name := getString(m, "name")
		cw := where + ": container " + name
		for _, vm := range getList(m, "volumeMounts") {
			if sp := getString(vm, "subPath"); sp != "" {
				c.fail(cw, "mount %s uses subPath %q: such mounts never receive ConfigMap or Secret updates", getString(vm, "mountPath"), sp)
			}
		}
		checkSecurity(c, cw, pod, m)
		if name == "linq-sync" {
			sidecar = m
		}
	}
	if len(containers) < 2 {
		c.fail(where, "want an app container and the linq-sync sidecar, found %d container(s)", len(containers))
	}
	if sidecar == nil {
		c.fail(where, "no container named linq-sync")
		return
	}
	sw := where + ": container linq-sync"

	args := map[string]string{}
	for _, a := range getList(sidecar, "args") {
		s, _ := a.(string)
		if k, v, ok := strings.Cut(s, "="); ok {
			args[k] = v
		}
	}
	c.expect(sw, "args[0]", getString(sidecar, "args", 0), "run")
	c.expect(sw, "--listen", args["--listen"], "0.0.0.0:9464")
	for _, flagName := range []string{"--file", "--token-file"} {
		if args[flagName] == "" {
			c.fail(sw, "args lack %s=...", flagName)
		}
	}
	// Signing secrets go to Kubernetes Secrets (checked on the typed objects, in
	// checkTyped) or to a directory on a writable volume.
	kubeStore := strings.HasPrefix(args["--secrets"], "kubernetes:")
	if !kubeStore && args["--secrets-dir"] == "" {
		c.fail(sw, "args lack --secrets=kubernetes:NAMESPACE or --secrets-dir=...")
	}

	// The config file's directory is a ConfigMap volume; the token file's directory a
	// Secret volume; the secrets directory is on a writable volume.
	mounts := map[string]map[string]any{}
	for _, vm := range getList(sidecar, "volumeMounts") {
		m, _ := vm.(map[string]any)
		mounts[getString(m, "mountPath")] = m
	}
	volumeAt := func(path string) (map[string]any, map[string]any) {
		for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
			if m, ok := mounts[dir]; ok {
				return m, volumes[getString(m, "name")]
			}
			if dir == "/" || dir == "." {
				return nil, nil
			}
		}
	}
	if m, v := volumeAt(args["--file"]); v == nil {
		c.fail(sw, "--file %s is not on a mounted volume", args["--file"])
	} else {
		if _, ok := v["configMap"]; !ok {
			c.fail(sw, "--file %s is not on a ConfigMap volume", args["--file"])
		}
		c.expect(sw, "config mount readOnly", m["readOnly"], true)
		c.expect(sw, "config mount path", getString(m, "mountPath"), "/etc/linq-sync")
	}
	if _, v := volumeAt(args["--token-file"]); v == nil {
		c.fail(sw, "--token-file %s is not on a mounted volume", args["--token-file"])
	} else if _, ok := v["secret"]; !ok {
		c.fail(sw, "--token-file %s is not on a Secret volume", args["--token-file"])
	}
	if kubeStore {
		// No volume: the Secrets are written through the API.
	} else if m, v := volumeAt(args["--secrets-dir"] + "/x"); v == nil {
		c.fail(sw, "--secrets-dir %s is not on a mounted volume", args["--secrets-dir"])
	} else {
		_, pvc := v["persistentVolumeClaim"]
		_, empty := v["emptyDir"]
		if !pvc && !empty {
			c.fail(sw, "--secrets-dir %s is on neither a PersistentVolumeClaim nor an emptyDir", args["--secrets-dir"])
		}
		if ro, _ := m["readOnly"].(bool); ro {
			c.fail(sw, "--secrets-dir %s is mounted read-only", args["--secrets-dir"])
		}
	}
	for _, e := range getList(sidecar, "env") {
		if getString(e, "name") == "LINQ_API_V3_API_KEY" {
			c.fail(sw, "passes the token in the environment; mount it as a file and use --token-file")
		}
	}

	for _, p := range []struct{ probe, path string }{{"livenessProbe", "/healthz"}, {"readinessProbe", "/readyz"}} {
		c.expect(sw, p.probe+".httpGet.path", getString(sidecar, p.probe, "httpGet", "path"), p.path)
		port, _ := get(sidecar, p.probe, "httpGet", "port")
		if fmt.Sprint(port) != "9464" && !slices.ContainsFunc(getList(sidecar, "ports"), func(x any) bool {
			return getString(x, "name") == fmt.Sprint(port) && fmt.Sprint(mustGet(x, "containerPort")) == "9464"
		}) {
			c.fail(sw, "%s.httpGet.port %v is not port 9464", p.probe, port)
		}
	}
	for _, r := range []string{"requests.cpu", "requests.memory", "limits.memory"} {
		a, b, _ := strings.Cut(r, ".")
		if getString(sidecar, "resources", a, b) == "" {
			c.fail(sw, "resources.%s is not set", r)
		}
	}
}

func mustGet(v any, path ...any) any {
	x, _ := get(v, path...)
	return x
}

// checkSecurity asserts a container's effective security context; pod-level
// settings count where Kubernetes lets them stand in for the container's.
func checkSecurity(c *checker, where string, pod any, ct map[string]any) {
	sc, _ := get(ct, "securityContext")
	podSC, _ := get(pod, "securityContext")
	eff := func(key string) any {
		if v, ok := get(sc, key); ok {
			return v
		}
		v, _ := get(podSC, key)
		return v
	}
	c.expect(where, "runAsNonRoot", eff("runAsNonRoot"), true)
	c.expect(where, "runAsUser", eff("runAsUser"), 65532)
	c.expect(where, "seccompProfile.type", getString(eff("seccompProfile"), "type"), "RuntimeDefault")
	c.expect(where, "readOnlyRootFilesystem", mustGet(sc, "readOnlyRootFilesystem"), true)
	c.expect(where, "allowPrivilegeEscalation", mustGet(sc, "allowPrivilegeEscalation"), false)
	drop := getList(sc, "capabilities", "drop")
	if !slices.Contains(drop, any("ALL")) {
		c.fail(where, "capabilities.drop lacks ALL")
	}
	if getList(sc, "capabilities", "add") != nil {
		c.fail(where, "capabilities.add is set")
	}
}

// extractConfigMaps writes every ConfigMap's data files into dir.
func extractConfigMaps(docs []doc, dir string) error {
	for _, d := range docs {
		if getString(d.root, "kind") != "ConfigMap" {
			continue
		}
		data, _ := get(d.root, "data")
		m, _ := data.(map[string]any)
		for name, v := range m {
			s, ok := v.(string)
			if !ok || name != filepath.Base(name) {
				return fmt.Errorf("%s: ConfigMap data key %q is not a file name with a string value", d.file, name)
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
				return fmt.Errorf("extract ConfigMap data: %w", err)
			}
		}
	}
	return nil
}

// checkWorkflow asserts the pull-request workflow's shape: triggers, the three
// linq-sync steps, and the fork fallback.
func checkWorkflow(file string, docs []doc) []string {
	c := &checker{}
	if len(docs) != 1 {
		c.fail(file, "want one YAML document, found %d", len(docs))
		return c.problems
	}
	w := docs[0].root
	on, ok := w["on"]
	if !ok {
		c.fail(file, `no "on" key (quote-free "on" must stay a string key, not YAML 1.1 true)`)
	}
	for _, ev := range []string{"pull_request", "push"} {
		if _, ok := get(on, ev); !ok {
			c.fail(file, "on.%s is missing", ev)
		}
	}
	if b := getList(on, "push", "branches"); !slices.Contains(b, any("main")) {
		c.fail(file, "on.push.branches lacks main")
	}
	if _, ok := w["permissions"]; !ok {
		c.fail(file, "no top-level permissions: the default token would get write access to everything")
	}
	jobs, _ := w["jobs"].(map[string]any)
	if len(jobs) == 0 {
		c.fail(file, "no jobs")
	}
	var runs strings.Builder
	for name, j := range jobs {
		steps := getList(j, "steps")
		if len(steps) == 0 {
			c.fail(file, "job %s has no steps", name)
		}
		for i, s := range steps {
			if getString(s, "run") == "" && getString(s, "uses") == "" {
				c.fail(file, "job %s step %d has neither run nor uses", name, i+1)
			}
			if uses := getString(s, "uses"); uses != "" && !strings.Contains(uses, "@") {
				c.fail(file, "job %s step %d: %q is not pinned to a version", name, i+1, uses)
			}
			runs.WriteString(getString(s, "run"))
			runs.WriteString(getString(s, "with", "script"))
			runs.WriteString("\n")
		}
	}
	all := runs.String()
	for _, want := range []string{
		"validate -o github",
		"plan -o markdown",
		"--offline",
		"--against",
		"<!-- linq-sync-plan -->",
		"GITHUB_STEP_SUMMARY",
		"apply",
		"--secrets-dir",
	} {
		if !strings.Contains(all, want) {
			c.fail(file, "no step runs %q", want)
		}
	}
	return c.problems
}

// stepScript returns the run: script of the step called name in job of a
// workflow file, so that a check can execute it outside GitHub Actions.
func stepScript(file, job, name string) (string, error) {
	docs, err := readDocs(file)
	if err != nil {
		return "", err
	}
	for _, st := range getList(docs[0].root, "jobs", job, "steps") {
		if getString(st, "name") == name {
			if run := getString(st, "run"); run != "" {
				return run, nil
			}
			return "", fmt.Errorf("%s: job %s step %q has no run: script", file, job, name)
		}
	}
	return "", fmt.Errorf("%s: job %s has no step %q", file, job, name)
}
