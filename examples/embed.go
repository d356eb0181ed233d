// Package examples embeds the example files so that `linq-sync demo` runs
// from anywhere, not only from a checkout.
package examples

import _ "embed"

// Subscriptions is examples/subscriptions.yaml.
//
//go:embed subscriptions.yaml
var Subscriptions []byte
