package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linq-sync/linq-sync/internal/fakeapi"
)

// gitRepo is a scratch repository driven with the git command, as a
// pull-request check drives it.
type gitRepo struct {
	t   *testing.T
	dir string
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	g := &gitRepo{t: t, dir: t.TempDir()}
	g.git("init", "-q")
	g.git("commit", "-q", "--allow-empty", "-m", "base without the file")
	return g
}

func (g *gitRepo) git(args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=ci", "-c", "user.email=ci@example.com", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = g.dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		g.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// baseOf writes the base branch's version of file as the workflow does:
// git show, or an empty config when the file is new.
func (g *gitRepo) baseOf(rev, file string) string {
	g.t.Helper()
	out := filepath.Join(g.t.TempDir(), "base.yaml")
	cmd := exec.Command("git", "show", rev+":"+file)
	cmd.Dir = g.dir
	b, err := cmd.Output()
	if err != nil {
		b = []byte("version: 1\nsubscriptions: []\n")
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		g.t.Fatal(err)
	}
	return out
}

func TestForkPullRequestAddingAnExportedFileIsAnAdoptionNotAnError(t *testing.T) {
	// The user exports their account and opens a pull request adding the file.
	_, vars := account(t, fakeapi.Options{},
		fakeapi.Subscription{TargetURL: "https://hooks.example.com/crm", SubscribedEvents: []string{"message.received"}, IsActive: true},
		fakeapi.Subscription{TargetURL: "https://hooks.example.com/billing", SubscribedEvents: []string{"message.sent"}, IsActive: true},
	)
	exp := run(t, vars, "export")
	if exp.code != ExitOK {
		t.Fatalf("export: %d %s", exp.code, exp.stderr)
	}
	g := newGitRepo(t)
	base := g.git("rev-parse", "HEAD")
	if err := os.WriteFile(filepath.Join(g.dir, "subscriptions.yaml"), []byte(exp.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	g.git("add", "subscriptions.yaml")
	g.git("commit", "-q", "-m", "adopt the account")

	// The fork's check: no token, the base from git show.
	against := g.baseOf(strings.TrimSpace(base), "subscriptions.yaml")
	file := filepath.Join(g.dir, "subscriptions.yaml")
	md := run(t, nil, "plan", "--offline", "--against", against, "-f", file, "-o", "markdown")
	if md.code != ExitPending {
		t.Fatalf("markdown plan: exit %d, want 2\n%s%s", md.code, md.stdout, md.stderr)
	}
	for _, want := range []string{"<b>= adopt</b>", "Offline plan", "It cannot know", "| 0 | 0 | 0 | 2 | 0 | 0 |"} {
		if !strings.Contains(md.stdout, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.stdout)
		}
	}
	for _, bad := range []string{"error", "nothing will be applied", "cannot be planned"} {
		if strings.Contains(md.stdout+md.stderr, bad) {
			t.Errorf("an adoption is reported with %q:\n%s%s", bad, md.stdout, md.stderr)
		}
	}

	txt := run(t, nil, "plan", "--offline", "--against", against, "-f", file)
	if txt.code != ExitPending || strings.Count(txt.stdout, "= adopt ") != 2 || !strings.Contains(txt.stdout, "2 to adopt") {
		t.Errorf("text plan: exit %d\n%s%s", txt.code, txt.stdout, txt.stderr)
	}

	js := run(t, nil, "plan", "--offline", "--against", against, "-f", file, "-o", "json")
	var doc struct {
		Summary    map[string]int `json:"summary"`
		Offline    bool           `json:"offline"`
		CannotKnow []string       `json:"cannot_know"`
		Errors     []any          `json:"errors"`
	}
	if err := json.Unmarshal([]byte(js.stdout), &doc); err != nil {
		t.Fatalf("json: %v\n%s", err, js.stdout)
	}
	if js.code != ExitPending || !doc.Offline || len(doc.CannotKnow) == 0 || doc.Summary["adopt"] != 2 || len(doc.Errors) != 0 {
		t.Errorf("json plan: exit %d, %+v", js.code, doc)
	}

	// After merge, the online plan of the same file is clean.
	if p := run(t, vars, "plan", "-f", file); p.code != ExitOK {
		t.Errorf("online plan of the export: exit %d\n%s", p.code, p.stdout)
	}
	// And online plans never claim to be offline.
	if j := run(t, vars, "plan", "-f", file, "-o", "json"); !strings.Contains(j.stdout, `"offline": false`) || strings.Contains(run(t, vars, "plan", "-f", file, "-o", "markdown").stdout, "Offline") {
		t.Errorf("online plan says offline:\n%s", j.stdout)
	}
}

func TestForkPullRequestChangingAURLOnAnotherHostNamesNoPredecessor(t *testing.T) {
	g := newGitRepo(t)
	file := filepath.Join(g.dir, "subscriptions.yaml")
	write := func(body string) {
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("version: 1\nsubscriptions:\n  - name: theirs\n    target_url: https://hooks.example.com/theirs\n    subscribed_events: [message.sent]\n")
	g.git("add", "subscriptions.yaml")
	g.git("commit", "-q", "-m", "base")
	write("version: 1\nsubscriptions:\n  - name: mine\n    target_url: https://brand-new.example.org/hook\n    subscribed_events: [message.sent]\n")
	g.git("commit", "-q", "-am", "replace theirs with mine")
	against := g.baseOf("HEAD~1", "subscriptions.yaml")
	r := run(t, nil, "plan", "--offline", "--against", against, "-f", file)
	if r.code != ExitPending || !strings.Contains(r.stdout, "+ create mine") || !strings.Contains(r.stdout, "? unmanaged https://hooks.example.com/theirs") ||
		strings.Contains(r.stdout, "predecessor") {
		t.Errorf("another host: exit %d\n%s", r.code, r.stdout)
	}
	// The same host and path with a new query is a likely URL change.
	write("version: 1\nsubscriptions:\n  - name: mine\n    target_url: https://hooks.example.com/theirs?version=2\n    subscribed_events: [message.sent]\n")
	r = run(t, nil, "plan", "--offline", "--against", against, "-f", file)
	if r.code != ExitPending || !strings.Contains(r.stdout, "looks like its predecessor") || !strings.Contains(r.stdout, "linq-sync export shows it") {
		t.Errorf("same host and path: exit %d\n%s", r.code, r.stdout)
	}
}
