package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestBenchRefusesADataDirectoryThatIsNotEmpty(t *testing.T) {
	noAmbientAWS(t)
	dir := t.TempDir()
	keep := filepath.Join(dir, "cloud.db")
	if err := os.WriteFile(keep, []byte("real orders"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "", "", "bench", "--orders", "10", "--data-dir", dir)
	want := "orderflow: " + dir + " is not empty: bench writes synthetic orders; give it a new or empty directory (e.g. --data-dir $(mktemp -d))\n"
	if code != 1 || stdout != "" || stderr != want {
		t.Errorf("exit %d, stdout %q, stderr %q\nwant exit 1, no stdout, stderr %q", code, stdout, stderr, want)
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "real orders" {
		t.Errorf("the refused run changed %s: %q, %v", keep, b, err)
	}

	code, _, stderr = runCLI(t, "", "", "bench", "--orders", "10", "--data-dir", keep)
	want = "orderflow: " + keep + " is not a directory: bench writes synthetic orders into a data directory; give it a new or empty one (e.g. --data-dir $(mktemp -d))\n"
	if code != 1 || stderr != want {
		t.Errorf("exit %d, stderr %q\nwant exit 1, stderr %q", code, stderr, want)
	}
}

func TestBenchMakesAMissingDataDirectory(t *testing.T) {
	noAmbientAWS(t)
	dir := filepath.Join(t.TempDir(), "new", "data")
	code, stdout, stderr := runCLI(t, "", "", "bench", "--orders", "10", "--json", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("bench --data-dir %s exited %d\nstdout:\n%s\nstderr:\n%s", dir, code, stdout, stderr)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) == 0 {
		t.Errorf("bench left %s with %v, %v; want its data file there", dir, entries, err)
	}
	// An empty directory is as good as a new one.
	empty := t.TempDir()
	if code, _, stderr := runCLI(t, "", "", "bench", "--orders", "10", "--json", "--data-dir", empty); code != 0 {
		t.Errorf("bench on an empty directory exited %d: %s", code, stderr)
	}
}
