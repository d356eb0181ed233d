// Package crashtest proves, with the real binary, that no signing secret is
// lost in silence: it kills apply and run with SIGKILL while they create
// subscriptions against the fake API, fills, freezes and exhausts the
// secret store's filesystem, and checks after each that every subscription
// on the server has its secret stored or is reported lost by the next plan.
// It holds tests only; nothing imports it.
package crashtest
