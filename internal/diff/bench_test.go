package diff

import (
	"fmt"
	"testing"
)

// BenchmarkCompute measures Compute for n entries against n remote
// subscriptions with about 10 % drift.
func BenchmarkCompute(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		desired, remote := drifted(n, 1)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p := Compute(desired, remote, Options{})
				if !p.HasChanges() {
					b.Fatal("no drift")
				}
			}
		})
	}
}
