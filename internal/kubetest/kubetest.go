// Package kubetest runs a real kube-apiserver, backed by a real etcd, on
// loopback for integration tests. It is imported only by tests.
//
// The binaries come from scripts/kube-env.sh: the directory it prints is read
// from LINQ_SYNC_KUBE_BIN, and when that is unset the script's default cache
// directory and then PATH are tried. When they are absent a test is skipped,
// except in CI (CI=true), where it fails: CI must never pass by skipping.
//
// The server authenticates with a static token file holding two users, Admin
// (in system:masters, so allowed everything) and Limited (no permissions until
// a test binds it to a Role), and authorizes with RBAC only, so a test of least
// privilege sees exactly the errors a real cluster returns. It is not a
// cluster: no controller manager runs, so nothing garbage-collects and deleted
// namespaces stay Terminating.
package kubetest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/linq-sync/linq-sync/internal/kube/manifest"
)

// The users in the server's static token file.
const (
	// Admin is in the system:masters group: RBAC allows it everything.
	Admin = "admin"
	// Limited has no permissions of its own; tests bind it to the Role under test.
	Limited = "limited"
)

// BinEnv names the environment variable holding the directory with the
// kube-apiserver and etcd binaries (what scripts/kube-env.sh prints).
const BinEnv = "LINQ_SYNC_KUBE_BIN"

// kubeVersion is the release scripts/kube-env.sh builds by default; its cache
// directory is looked in when BinEnv is unset.
const kubeVersion = "v1.37.2"

// readyTimeout bounds how long Start waits for etcd and then the apiserver to
// report ready. The apiserver is usually ready in under ten seconds; the
// margin is for a loaded two-core machine running several test binaries.
const readyTimeout = 90 * time.Second

// Server is a running kube-apiserver and its etcd.
type Server struct {
	// URL is the apiserver's https address on 127.0.0.1.
	URL string
	// CAData is the PEM certificate that signs the serving certificate.
	CAData []byte

	tokens map[string]string
	dir    string
	procs  []*proc
}

// Config returns a client configuration that authenticates as user (Admin
// or Limited). It panics on an unknown user, which is a bug in the test.
func (s *Server) Config(user string) *rest.Config {
	tok, ok := s.tokens[user]
	if !ok {
		panic(fmt.Sprintf("kubetest: unknown user %q", user))
	}
	return &rest.Config{
		Host:            s.URL,
		BearerToken:     tok,
		TLSClientConfig: rest.TLSClientConfig{CAData: s.CAData},
		// Tests create objects in bursts; client-side throttling would only
		// slow them down.
		QPS:   -1,
		Burst: -1,
	}
}

// Client returns a typed clientset authenticating as user.
func (s *Server) Client(tb testing.TB, user string) kubernetes.Interface {
	tb.Helper()
	c, err := kubernetes.NewForConfig(s.Config(user))
	if err != nil {
		tb.Fatalf("kubetest: clientset for %s: %v", user, err)
	}
	return c
}

// Namespace creates a namespace with a name unique to this test and returns
// it, so tests sharing one server do not see each other's objects.
func (s *Server) Namespace(tb testing.TB) string {
	tb.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "t-" + dnsLabel(tb.Name(), 40) + "-" + hex.EncodeToString(b[:])
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := s.Client(tb, Admin).CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		tb.Fatalf("kubetest: create namespace %s: %v", name, err)
	}
	return name
}

// dnsLabel lowercases s and keeps only what a DNS label allows, at most max bytes.
func dnsLabel(s string, max int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if b.Len() == max {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

// Start runs a fresh etcd and kube-apiserver in tb.TempDir() and stops them at
// tb.Cleanup. Without the binaries it skips tb, or fails it in CI.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := binDir()
	if err != nil {
		skipOrFail(tb, err)
	}
	s, err := start(bin, tb.TempDir())
	if err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
	tb.Cleanup(s.stop)
	return s
}

var shared struct {
	mu  sync.Mutex
	srv *Server
	err error
	dir string
}

// Shared returns one server for every test of the package, started on first
// use. The package's TestMain must call Main, which stops it at the end.
// Without the binaries it skips tb, or fails it in CI.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	bin, err := binDir()
	if err != nil {
		skipOrFail(tb, err)
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil && shared.err == nil {
		shared.dir, shared.err = os.MkdirTemp("", "kubetest-")
		if shared.err == nil {
			shared.srv, shared.err = start(bin, shared.dir)
		}
	}
	if shared.err != nil {
		tb.Fatalf("kubetest: %v", shared.err)
	}
	return shared.srv
}

// Main runs the package's tests and stops the server Shared started:
//
//	func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		shared.srv.stop()
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	return code
}

func skipOrFail(tb testing.TB, err error) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("kubetest: %v (CI must run the Kubernetes tests: run scripts/kube-env.sh and export %s)", err, BinEnv)
	}
	tb.Skipf("kubetest: %v; run `export %s=$(scripts/kube-env.sh)` to run this test", err, BinEnv)
}

// binDir finds the directory holding both kube-apiserver and etcd.
func binDir() (string, error) {
	if d := os.Getenv(BinEnv); d != "" {
		for _, b := range []string{"kube-apiserver", "etcd"} {
			if _, err := os.Stat(filepath.Join(d, b)); err != nil {
				return "", fmt.Errorf("%s=%s: %w", BinEnv, d, err)
			}
		}
		return d, nil
	}
	var candidates []string
	if c, err := os.UserCacheDir(); err == nil {
		candidates = append(candidates, filepath.Join(c, "linq-sync", "kube", kubeVersion, "bin"))
	}
	for _, d := range candidates {
		if isExec(filepath.Join(d, "kube-apiserver")) && isExec(filepath.Join(d, "etcd")) {
			return d, nil
		}
	}
	a, errA := exec.LookPath("kube-apiserver")
	e, errE := exec.LookPath("etcd")
	if errA == nil && errE == nil && filepath.Dir(a) == filepath.Dir(e) {
		return filepath.Dir(a), nil
	}
	return "", errors.New("kube-apiserver and etcd binaries not found")
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// start launches etcd then the apiserver under dir and waits for both. A port
// taken between choosing it and binding it makes a process exit early; that
// attempt is thrown away and the whole start retried with new ports.
func start(bin, dir string) (*Server, error) {
	var errs []error
	for attempt := 1; attempt <= 3; attempt++ {
		s, err := startOnce(bin, filepath.Join(dir, strconv.Itoa(attempt)))
		if err == nil {
			return s, nil
		}
		errs = append(errs, fmt.Errorf("attempt %d: %w", attempt, err))
		if !errors.Is(err, errExited) {
			break
		}
	}
	return nil, errors.Join(errs...)
}

var errExited = errors.New("process exited before it was ready")

func startOnce(bin, dir string) (_ *Server, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &Server{dir: dir, tokens: map[string]string{}}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	etcd, err := s.spawn(filepath.Join(bin, "etcd"), "etcd",
		"--name=default",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--log-level=warn",
		"--logger=zap",
	)
	if err != nil {
		return nil, err
	}
	if err := waitReady(etcd, http.DefaultClient, etcdURL+"/health", ""); err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}

	if err := s.writeCredentials(); err != nil {
		return nil, err
	}
	s.URL = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	api, err := s.spawn(filepath.Join(bin, "kube-apiserver"), "kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(ports[2]),
		"--cert-dir="+filepath.Join(dir, "certs"),
		"--tls-cert-file="+filepath.Join(dir, "serving.crt"),
		"--tls-private-key-file="+filepath.Join(dir, "serving.key"),
		"--token-auth-file="+filepath.Join(dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--anonymous-auth=false",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+filepath.Join(dir, "sa.key"),
		"--service-account-signing-key-file="+filepath.Join(dir, "sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		"--endpoint-reconciler-type=none",
		"--profiling=false",
		"--v=1",
	)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAData)
	hc := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	if err := waitReady(api, hc, s.URL+"/readyz", s.tokens[Admin]); err != nil {
		return nil, fmt.Errorf("kube-apiserver: %w", err)
	}
	return s, nil
}

// writeCredentials writes the serving certificate (self-signed, for
// 127.0.0.1), the service-account signing key and the token file.
func (s *Server) writeCredentials() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "kubetest-apiserver"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	s.CAData = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM, err := ecKeyPEM(key)
	if err != nil {
		return err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	saPEM, err := ecKeyPEM(saKey)
	if err != nil {
		return err
	}
	var tokens bytes.Buffer
	for _, u := range []struct{ name, groups string }{{Admin, "system:masters"}, {Limited, ""}} {
		var b [24]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		s.tokens[u.name] = hex.EncodeToString(b[:])
		// token,user,uid,"group1,group2"
		fmt.Fprintf(&tokens, "%s,%s,%s,%q\n", s.tokens[u.name], u.name, u.name+"-uid", u.groups)
	}
	for name, data := range map[string][]byte{
		"serving.crt": s.CAData,
		"serving.key": keyPEM,
		"sa.key":      saPEM,
		"tokens.csv":  tokens.Bytes(),
	} {
		if err := os.WriteFile(filepath.Join(s.dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func ecKeyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// proc is a child process whose output goes to a log file in the server's
// directory; that log's tail is quoted when the process fails to start.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func (s *Server) spawn(path, name string, args ...string) (*proc, error) {
	logPath := filepath.Join(s.dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = s.dir
	// The children die with the test binary, even when it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	s.procs = append(s.procs, p)
	return p, nil
}

func (p *proc) tail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// waitReady polls url until it answers 200, the process exits, or readyTimeout passes.
func waitReady(p *proc, hc *http.Client, url, token string) error {
	deadline := time.Now().Add(readyTimeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, body)
		} else {
			last = err.Error()
		}
		select {
		case <-p.done:
			return fmt.Errorf("%w (%v); log tail:\n%s", errExited, p.err, p.tail())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: last answer %s; log tail:\n%s", readyTimeout, last, p.tail())
		}
	}
}

// stop kills the processes, the apiserver first, and waits for them to exit.
func (s *Server) stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	s.procs = nil
}

// Apply creates objs in namespace ns as Admin, as `kubectl apply -n ns` would
// for new objects. It knows the kinds linq-sync's manifests hold.
func (s *Server) Apply(tb testing.TB, ns string, objs ...runtime.Object) {
	tb.Helper()
	admin := s.Client(tb, Admin)
	ctx := context.Background()
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *corev1.ServiceAccount:
			_, err = admin.CoreV1().ServiceAccounts(ns).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.Secret:
			_, err = admin.CoreV1().Secrets(ns).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.ConfigMap:
			_, err = admin.CoreV1().ConfigMaps(ns).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.Role:
			_, err = admin.RbacV1().Roles(ns).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.RoleBinding:
			_, err = admin.RbacV1().RoleBindings(ns).Create(ctx, o, metav1.CreateOptions{})
		default:
			tb.Fatalf("kubetest: Apply does not know %T", obj)
		}
		if err != nil {
			tb.Fatalf("kubetest: apply %T: %v", obj, err)
		}
	}
}

// ApplyFile decodes the manifests in file (strictly, as the deployment checks
// do) and applies them to ns with Apply.
func (s *Server) ApplyFile(tb testing.TB, ns, file string) {
	tb.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
	ms, err := manifest.Decode(file, b)
	if err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
	for _, m := range ms {
		s.Apply(tb, ns, m.Object)
	}
}

// ServiceAccountConfig returns a client configuration that authenticates as
// the ServiceAccount name in ns, with a token from the TokenRequest API: the
// credentials a pod running as that account has.
func (s *Server) ServiceAccountConfig(tb testing.TB, ns, name string) *rest.Config {
	tb.Helper()
	exp := int64(3600)
	tok, err := s.Client(tb, Admin).CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("kubetest: token for ServiceAccount %s/%s: %v", ns, name, err)
	}
	cfg := s.Config(Admin)
	cfg.BearerToken = tok.Status.Token
	return cfg
}

// WriteKubeconfig writes a kubeconfig file holding cfg's server, CA and
// bearer token into tb.TempDir() and returns its path, for the code paths
// that read --kubeconfig or KUBECONFIG.
func WriteKubeconfig(tb testing.TB, cfg *rest.Config) string {
	tb.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["test"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	kc.CurrentContext = "test"
	path := filepath.Join(tb.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
	return path
}
