package secrets

import "context"

// Write stores value as the secret of name with no record of its
// subscription. It serves apply until apply keeps custody through the
// Store interface, which records the subscription with every secret.
func (d *Dir) Write(name, value string) error {
	return d.Put(context.Background(), Record{Name: name}, value, KeepNone)
}
