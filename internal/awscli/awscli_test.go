package awscli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fake writes an executable aws into a new directory that prints version.
func fake(t *testing.T, version string) string {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\necho '" + version + "'\n"
	if err := os.WriteFile(filepath.Join(dir, "aws"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestFindTellsTheVersionsApartByWhatTheyPrint(t *testing.T) {
	v1 := fake(t, "aws-cli/1.36.0 Python/3.11.2 Linux/6.1 botocore/1.35.0")
	v2 := fake(t, "aws-cli/2.9.19 Python/3.11.2 Linux/6.1 source/x86_64.debian.12 prompt/off")
	other := fake(t, "something else")
	empty := t.TempDir()
	for _, tc := range []struct {
		name   string
		path   []string
		v2, v1 string
	}{
		{"both, v1 first on PATH", []string{empty, v1, other, v2}, filepath.Join(v2, "aws"), filepath.Join(v1, "aws")},
		{"only v2", []string{other, v2}, filepath.Join(v2, "aws"), ""},
		{"only v1", []string{v1}, "", filepath.Join(v1, "aws")},
		{"neither", []string{empty, other}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g2, g1 := find(nil, strings.Join(tc.path, string(os.PathListSeparator)))
			if g2 != tc.v2 || g1 != tc.v1 {
				t.Errorf("Find = (%q, %q), want (%q, %q)", g2, g1, tc.v2, tc.v1)
			}
		})
	}
}

func TestFindLooksAtTheFixedPlaceFirst(t *testing.T) {
	v2a, v2b := fake(t, "aws-cli/2.9.19"), fake(t, "aws-cli/2.15.0")
	g2, _ := find([]string{filepath.Join(v2a, "aws")}, v2b)
	if g2 != filepath.Join(v2a, "aws") {
		t.Errorf("v2 = %q, want the fixed place %q", g2, filepath.Join(v2a, "aws"))
	}
}

func TestVersionOfWhatIsNotACLI(t *testing.T) {
	if got := Version(t.TempDir()); got != 0 {
		t.Errorf("a directory: version %d", got)
	}
	if got := Version(filepath.Join(t.TempDir(), "aws")); got != 0 {
		t.Errorf("a missing file: version %d", got)
	}
	if got := Version(filepath.Join(fake(t, "aws-cli/3.0.0"), "aws")); got != 0 {
		t.Errorf("an unknown major version: %d", got)
	}
}
