// Package chaos holds the suite that proves, rather than claims, that
// linq-sync converges under faults, loses nothing and stays cheap. It has
// no code outside its tests and nothing imports it.
//
// The tests drive the real path that `linq-sync apply` and `linq-sync run`
// use (config.Parse, reconcile.Reconciler, apply.Execute, the linq client
// over HTTP) against the fake API of package fakeapi, with faults injected
// at random but seeded rates: 5xx before and after a write commits, 429
// with Retry-After, latency spikes, connections dropped before and after
// the handler ran, and truncated answers.
//
//   - TestChaosApplyConverges: randomized desired/remote state pairs
//     reconcile, round after round, to exactly the desired state; nothing
//     outside the policy is touched; no target_url ever exists twice; every
//     created subscription has its secret stored or is reported lost; no
//     secret file is half-written.
//   - TestChaosTwoDaemonsConverge: two daemons (daemon.Run, as two sidecar
//     replicas) reconciling one account every few milliseconds converge
//     without duplicates, never show half a secret file, and then stop
//     writing.
//   - TestRetryBudget: 429s are waited out as the server asks, 400/401/403
//     are never retried, and the calls stay within a stated bound of the
//     minimum (exactly the minimum without faults).
//   - TestMalformedAnswersCauseNoWrites: a damaged list answer ends the
//     reconcile with an error that says what was wrong, before any write.
//
// The tests in findings_test.go pin down, each with one fixed case, what
// the randomized suites found.
//
// # Running it longer
//
// The default run is sized for `go test -race ./...` in CI (under 15
// seconds on two cores). Flags, given after the package:
//
//	-chaos.n=N      randomized cases of TestChaosApplyConverges (default
//	                200); the two-daemon test runs N/4, the retry budget
//	                N/4 with faults and the same N/4 without
//	-chaos.seed=S   master seed (default 20260203); 0 draws one from the
//	                clock, and every run logs the seed it used
//	-chaos.long=K   multiplies every case count and the after-convergence
//	                rounds by K
//	-chaos.jobs=J   randomized cases run at once (default 8; they mostly
//	                wait on the network and fsync, so more than the cores;
//	                each two-daemon case holds two inotify instances)
//
// For example, a soak of about ten thousand cases:
//
//	go test -race -timeout 60m ./internal/chaos/ -chaos.n=2000 -chaos.long=5 -chaos.seed=0
//
// A failing case names its seed and prints its config, remote state and
// faults; rerun it alone with
//
//	go test -race ./internal/chaos/ -run 'TestChaosApplyConverges/case-17$' -chaos.seed=S
package chaos
