package leader

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/linq-sync/linq-sync/internal/kube"
	"github.com/linq-sync/linq-sync/internal/kubetest"
)

var (
	takeovers       = flag.Int("takeover.n", 1, "how many kill -9 takeovers TestKilledLeaderProcessIsReplaced measures (it logs their median)")
	takeoverDefault = flag.Bool("takeover.defaults", false, "measure takeovers with the default timings (15s/10s/2s) instead of the short test ones")
)

// helperEnv, when set, makes the test binary a leader-election replica in
// its own process (helperMain), so that a test can kill -9 it.
const helperEnv = "LINQ_SYNC_LEADER_HELPER"

// helperMain campaigns with the configuration in its environment, prints
// "leading" once it leads, and runs until it is killed.
func helperMain() int {
	cfg := &rest.Config{
		Host:            os.Getenv("HELPER_HOST"),
		BearerToken:     os.Getenv("HELPER_TOKEN"),
		TLSClientConfig: rest.TLSClientConfig{CAData: []byte(os.Getenv("HELPER_CA"))},
	}
	c, err := kube.NewClient(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var d [3]time.Duration
	for i, f := range strings.Split(os.Getenv("HELPER_TIMINGS"), ",") {
		d[i], _ = time.ParseDuration(f)
	}
	e, err := New(Options{
		Client: c, Namespace: os.Getenv("HELPER_NS"), Identity: "killed-" + os.Getenv("HELPER_NS"),
		LeaseDuration: d[0], RenewDeadline: d[1], RetryPeriod: d[2],
		OnStarted: func(ctx context.Context) {
			fmt.Println("leading")
			<-ctx.Done()
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_ = e.Run(context.Background())
	return 0
}

// TestKilledLeaderProcessIsReplaced kills -9 a leader running in another
// process, which can neither finish nor release anything, and checks that
// the follower takes the lease over. It logs how long that took (measured
// from the kill); -takeover.n=10 logs the median of ten.
func TestKilledLeaderProcessIsReplaced(t *testing.T) {
	srv := kubetest.Shared(t)
	lease, renew, retry := testLease, testRenew, testRetry
	if *takeoverDefault {
		lease, renew, retry = DefaultLeaseDuration, DefaultRenewDeadline, DefaultRetryPeriod
	}
	var times []time.Duration
	for i := 0; i < *takeovers; i++ {
		times = append(times, killAndTakeOver(t, srv, lease, renew, retry))
	}
	slices.Sort(times)
	t.Logf("takeover after kill -9 (lease %v, renew %v, retry %v): median %v of %d, min %v, max %v",
		lease, renew, retry, times[len(times)/2].Round(10*time.Millisecond), len(times), times[0].Round(10*time.Millisecond), times[len(times)-1].Round(10*time.Millisecond))
}

func killAndTakeOver(t *testing.T, srv *kubetest.Server, lease, renew, retry time.Duration) time.Duration {
	t.Helper()
	ns := srv.Namespace(t)
	admin := srv.Config(kubetest.Admin)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		helperEnv+"=1",
		"HELPER_HOST="+admin.Host,
		"HELPER_TOKEN="+admin.BearerToken,
		"HELPER_CA="+string(admin.CAData),
		"HELPER_NS="+ns,
		fmt.Sprintf("HELPER_TIMINGS=%v,%v,%v", lease, renew, retry),
	)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	leading := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "leading" {
				close(leading)
			}
		}
		exited <- cmd.Wait()
	}()
	select {
	case <-leading:
	case <-time.After(60 * time.Second):
		t.Fatal("the helper process never led")
	}

	var w workers
	f := startReplicaTimed(t, srv.Config(kubetest.Admin), ns, &w, lease, renew, retry)
	// Kill only once the follower has seen the leader, as in a running deployment.
	select {
	case id := <-f.observed:
		if id != "killed-"+ns {
			t.Fatalf("follower observed leader %q, want the helper", id)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the follower never observed the helper's lease")
	}
	if f.e.IsLeader() {
		t.Fatal("the follower leads while the helper holds the lease")
	}
	killed := time.Now()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, lease+10*retry+30*time.Second, "the follower leading after the kill", f.e.IsLeader)
	took := time.Since(killed)
	if got, want := holder(t, srv.Client(t, kubetest.Admin), ns), f.e.Identity(); got != want {
		t.Errorf("lease holder = %q, want the follower %q", got, want)
	}
	return took
}
