//go:build unix

package secrets

import (
	"io/fs"
	"os"
	"syscall"
)

// owned reports whether this process's user owns the file fi describes.
func owned(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}
