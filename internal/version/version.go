// Package version holds the build's version, set at link time with
// -ldflags "-X github.com/linq-sync/linq-sync/internal/version.Version=v1.2.3".
package version

import (
	"runtime"
	"runtime/debug"
)

// Version is the release version; "dev" for untagged builds.
var Version = "dev"

// String returns the version, falling back to the module version recorded
// by the Go toolchain when none was linked in.
func String() string {
	if Version != "dev" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return Version
}

// GoVersion is the toolchain that built the binary.
func GoVersion() string { return runtime.Version() }
