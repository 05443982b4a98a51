package main

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestTheZipHoldsAnExecutableBootstrapAndIsReproducible(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bootstrap-linux-arm64")
	content := []byte("\x7fELF pretend binary")
	if err := os.WriteFile(bin, content, 0o755); err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(dir, "a.zip"), filepath.Join(dir, "b.zip")
	for _, out := range []string{a, b} {
		if err := run([]string{"-o", out, bin}, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	za, _ := os.ReadFile(a)
	zb, _ := os.ReadFile(b)
	if !bytes.Equal(za, zb) {
		t.Errorf("two zips of the same binary differ")
	}
	r, err := zip.OpenReader(a)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(r.File) != 1 || r.File[0].Name != "bootstrap" {
		t.Fatalf("entries = %v, want only bootstrap", r.File)
	}
	if mode := r.File[0].Mode(); mode.Perm() != 0o755 {
		t.Errorf("bootstrap mode = %v, want -rwxr-xr-x", mode)
	}
	rc, _ := r.File[0].Open()
	got, _ := io.ReadAll(rc)
	if !bytes.Equal(got, content) {
		t.Errorf("bootstrap content differs from the binary")
	}
}

func TestAMissingBinaryIsAnErrorAndLeavesNoZip(t *testing.T) {
	out := filepath.Join(t.TempDir(), "f.zip")
	if err := run([]string{"-o", out, "/nonexistent/bootstrap"}, io.Discard); err == nil {
		t.Errorf("run error = nil for a missing binary")
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a zip was left behind")
	}
	if err := run(nil, io.Discard); err == nil {
		t.Errorf("run without a binary: error = nil")
	}
}
