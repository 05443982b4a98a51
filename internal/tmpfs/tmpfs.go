// Package tmpfs gives tests a small filesystem of their own to fill, so a
// full disk can be made real rather than injected.
package tmpfs

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/internal/slowtest"
)

// Mount mounts a tmpfs of size bytes in a temporary directory for the
// test and unmounts it when the test ends. Mounting takes privileges:
// where it is not allowed the test is skipped with the reason and with
// why, which names the test that covers the promise unprivileged. Under
// go test -short (make check) the test is skipped: make test runs it.
func Mount(t testing.TB, size int, why string) string {
	t.Helper()
	slowtest.Skip(t, "fills a real disk (a tmpfs)")
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a tmpfs to fill (%v: %s); %s", err, strings.TrimSpace(string(out)), why)
	}
	t.Cleanup(func() {
		// A process killed by an earlier cleanup may still hold it.
		for range 50 {
			if exec.Command("umount", dir).Run() == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}
