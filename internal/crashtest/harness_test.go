package crashtest

import (
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linq-sync/linq-sync/internal/fakeapi"
	"github.com/linq-sync/linq-sync/internal/proctest"
)

var (
	flagSeed  = flag.Uint64("crash.seed", 1, "seed of the kill moments")
	flagKills = flag.Int("crash.kills", 20, "kills per crash suite")
	flagSubs  = flag.Int("crash.subs", 200, "subscriptions each crash suite creates")
	flagDelay = flag.Duration("crash.latency", 20*time.Millisecond, "latency after commit of every create")

	flagRotateKills = flag.Int("crash.rotate-kills", 5, "kills during the rotation of the lost secrets")
)

// bin is the linq-sync binary TestMain builds.
var bin string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(proctest.Main(&bin, m.Run))
}

// harness is a fake API served on loopback, a config of n subscriptions
// and a secret store, driven through the real binary.
type harness struct {
	t     *testing.T
	fake  *fakeapi.Server
	srv   *httptest.Server
	conns atomic.Int64
	cfg   string
	names []string
	file  proctest.File
	// store is the --secrets URI; dir the directory of a dir store.
	store string
	dir   string
	extra []string // flags every command gets (--state-dir)
}

func newHarness(t *testing.T, n int, seed int64) *harness {
	t.Helper()
	h := &harness{t: t, fake: fakeapi.New(fakeapi.Options{Seed: seed})}
	// Connections are counted so that, after a kill, the test waits until
	// the server has handled everything the dead process sent.
	h.srv = proctest.Serve(t, h.fake, &h.conns)
	h.file = proctest.WriteFile(t, n, "https://hooks.example.com/crash")
	h.cfg, h.names = h.file.Path, h.file.Names
	return h
}

// useDir makes dir the harness's dir store.
func (h *harness) useDir(dir string) {
	h.dir, h.store = dir, "dir:"+dir
}

// slowCreates holds back the answer of every create for d after it commits.
func (h *harness) slowCreates(d time.Duration) {
	h.fake.AddFault(fakeapi.Fault{Kind: fakeapi.FaultLatencyAfter, Method: http.MethodPost, Route: fakeapi.RouteSubscriptions, Delay: d})
}

func (h *harness) creates() int { return h.fake.Count("POST " + fakeapi.RouteSubscriptions) }

// command returns the binary run with args, the store and the fake's URL.
func (h *harness) command(ctx context.Context, sub string, args ...string) *exec.Cmd {
	full := append([]string{sub, "-f", h.cfg, "--base-url", h.srv.URL, "--secrets", h.store, "--log-format", "json"}, h.extra...)
	cmd := exec.CommandContext(ctx, bin, append(full, args...)...)
	cmd.Env = proctest.Env(fakeapi.DefaultToken)
	return cmd
}

// run runs the binary to its end.
func (h *harness) run(sub string, args ...string) proctest.Outcome {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return proctest.Run(h.t, h.command(ctx, sub, args...))
}

// listenAddr waits for the daemon to log the address it serves metrics on.
func (h *harness) listenAddr(p *proctest.Proc) string {
	h.t.Helper()
	var addr string
	h.waitFor("the daemon to serve its metrics", func() bool {
		addr = proctest.ListenAddr(p.Stderr.String())
		return addr != "" || p.Exited()
	})
	if addr == "" {
		h.t.Fatalf("the daemon did not serve metrics (%v); stderr:\n%s", p.Err(), proctest.Tail(p.Stderr.String()))
	}
	return addr
}

// start starts the binary; the test will kill or stop it.
func (h *harness) start(sub string, args ...string) *proctest.Proc {
	h.t.Helper()
	return proctest.Start(h.t, h.command(context.Background(), sub, args...))
}

// waitFor polls cond until it holds or a deadline passes; it reports
// whether cond held (a test error otherwise).
func (h *harness) waitFor(what string, cond func() bool) bool {
	h.t.Helper()
	return proctest.WaitFor(h.t, what, 200*time.Microsecond, cond)
}

// quiesce waits until every connection to the fake is closed: whatever a
// killed process sent has been handled, committed or not.
func (h *harness) quiesce() {
	h.t.Helper()
	h.waitFor("the fake to finish every call", func() bool { return h.conns.Load() == 0 })
}

var (
	secretRE = regexp.MustCompile(`^whsec_[A-Za-z0-9+/]{43}=$`)
)

// noSecretIn fails when anything shaped like a signing secret appears in s.
func (h *harness) noSecretIn(s string) {
	h.t.Helper()
	proctest.NoSecretIn(h.t, s)
}

// planDoc is the part of plan -o json this suite reads.
type planDoc struct {
	Summary struct {
		Create, Rotate, InSync int
	} `json:"summary"`
	Custody []struct {
		Name, ID, Secret, Reason string
	} `json:"custody"`
}

func (h *harness) plan() (planDoc, int) {
	h.t.Helper()
	out := h.run("plan", "-o", "json")
	if out.Code != 0 && out.Code != 2 {
		h.t.Fatalf("plan exited %d: %s", out.Code, proctest.Tail(out.Stderr))
	}
	var doc planDoc
	if err := json.Unmarshal([]byte(out.Stdout), &doc); err != nil {
		h.t.Fatalf("plan -o json: %v\n%s", err, out.Stdout)
	}
	return doc, out.Code
}

// account is what check found.
type account struct {
	subs int
	// held maps each name whose secret is held to its subscription id.
	held map[string]string
	// lost maps each name the plan reports lost to its subscription id.
	lost map[string]string
}

// check runs plan and verifies custody against the fake: every
// subscription is on the server once, under a URL of the file, and either
// its secret is stored (equal to the fake's, for a dir store) or the plan
// reports it lost. It also checks that every secret file is whole.
func (h *harness) check(stage string) account {
	h.t.Helper()
	doc, code := h.plan()
	custody := map[string]struct{ id, secret string }{}
	for _, c := range doc.Custody {
		custody[c.Name] = struct{ id, secret string }{c.ID, c.Secret}
	}
	acc := account{held: map[string]string{}, lost: map[string]string{}}
	subs := h.fake.Snapshot()
	acc.subs = len(subs)
	for _, m := range h.file.Match(h.t, stage, subs) {
		name, s := m.Name, m.Sub
		c, ok := custody[name]
		switch {
		case !ok || c.id != s.ID:
			h.t.Errorf("%s: %s (%s) has no custody entry in the plan (got %+v)", stage, name, s.ID, c)
		case c.secret == "lost":
			acc.lost[name] = s.ID
		case c.secret == "held":
			acc.held[name] = s.ID
			if h.dir != "" {
				want, _ := h.fake.Secret(s.ID)
				if got, err := os.ReadFile(filepath.Join(h.dir, name+".secret")); err != nil || string(got) != want {
					h.t.Errorf("%s: %s is reported held but its file does not hold the fake's secret (%v)", stage, name, err)
				}
			}
		default:
			h.t.Errorf("%s: %s (%s) was created here and its custody is %q: a silent loss", stage, name, s.ID, c.secret)
		}
	}
	if len(acc.lost) > 0 && code != 2 {
		h.t.Errorf("%s: plan exited %d with %d lost secrets, want 2", stage, code, len(acc.lost))
	}
	if h.dir != "" {
		h.wholeFiles(stage)
	}
	return acc
}

// wholeFiles checks that every secret file is a whole signing secret and
// every record whole JSON.
func (h *harness) wholeFiles(stage string) {
	h.t.Helper()
	des, err := os.ReadDir(h.dir)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, de := range des {
		n := de.Name()
		if strings.HasPrefix(n, ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(h.dir, n))
		switch {
		case strings.HasSuffix(n, ".secret"):
			if err != nil || !secretRE.Match(b) {
				h.t.Errorf("%s: %s is not a whole signing secret (%d bytes, %v)", stage, n, len(b), err)
			}
		case strings.HasSuffix(n, ".json"):
			var rec map[string]any
			if err == nil {
				err = json.Unmarshal(b, &rec)
			}
			if err != nil {
				h.t.Errorf("%s: %s is not a whole record: %v", stage, n, err)
			}
		}
	}
}

// noTempFiles checks that a clean run left no temporary files.
func (h *harness) noTempFiles(stage string) {
	h.t.Helper()
	des, err := os.ReadDir(h.dir)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, de := range des {
		if strings.Contains(de.Name(), ".tmp-") {
			h.t.Errorf("%s: temporary file %s left behind", stage, de.Name())
		}
	}
}
