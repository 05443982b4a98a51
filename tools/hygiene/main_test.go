package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// repo makes a git repository in a temporary directory holding files
// (path → contents), all staged, and returns its path.
func repo(t *testing.T, files map[string][]byte) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("git is not installed; CI needs it")
		}
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	git(t, dir, "init", "-q")
	for path, data := range files {
		full := filepath.Join(dir, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, dir, "add", "-A")
	return dir
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// hygiene runs the command on dir and returns what it printed and its error.
func hygiene(t *testing.T, dir string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run([]string{"-C", dir}, &stdout, &stderr)
	if stderr.Len() > 0 {
		t.Logf("stderr: %s", stderr.String())
	}
	return stdout.String(), err
}

func elf() []byte { return append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 100)...) }

func machO() []byte {
	return append([]byte{0xcf, 0xfa, 0xed, 0xfe, 0x0c, 0, 0, 1}, make([]byte, 100)...)
}

// pe is a DOS header whose word at 0x3c points at a "PE\0\0" signature.
func pe() []byte {
	b := make([]byte, 0x200)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[0x3c:], 0x80)
	copy(b[0x80:], "PE\x00\x00")
	return b
}

func TestHygiene(t *testing.T) {
	t.Parallel()
	source := []byte("package main\n\nfunc main() {}\n")

	t.Run("passes on a repository of source files", func(t *testing.T) {
		t.Parallel()
		dir := repo(t, map[string][]byte{
			"main.go":           source,
			"testdata/1mib.bin": bytes.Repeat([]byte{'x'}, maxSize), // at the limit, not over it
			"README.md":         []byte("MZ is how this line starts, which is not a PE file\n"),
			".ci/hygiene-allow": []byte("# nothing is allowed\n"),
		})
		out, err := hygiene(t, dir)
		if err != nil || out != "" {
			t.Errorf("got %v and output %q, want success and no output", err, out)
		}
	})

	t.Run("fails on a file over 1 MiB", func(t *testing.T) {
		t.Parallel()
		dir := repo(t, map[string][]byte{
			"main.go":       source,
			"data/big.json": bytes.Repeat([]byte{'x'}, maxSize+1),
		})
		out, err := hygiene(t, dir)
		if !errors.Is(err, errFound) {
			t.Errorf("got %v, want errFound", err)
		}
		if want := "data/big.json: 1048577 bytes (1.0 MiB), over the 1 MiB limit\n"; out != want {
			t.Errorf("got output %q, want %q", out, want)
		}
	})

	t.Run("fails on an ELF, a Mach-O and a PE binary, however small", func(t *testing.T) {
		t.Parallel()
		dir := repo(t, map[string][]byte{
			"main.go":     source,
			"orderflow":   elf(),
			"bin/tool":    machO(),
			"bin/app.exe": pe(),
		})
		out, err := hygiene(t, dir)
		if !errors.Is(err, errFound) {
			t.Errorf("got %v, want errFound", err)
		}
		want := "bin/app.exe: a compiled binary (PE)\n" +
			"bin/tool: a compiled binary (Mach-O)\n" +
			"orderflow: a compiled binary (ELF)\n"
		if out != want {
			t.Errorf("got output\n%s\nwant\n%s", out, want)
		}
	})

	t.Run("fails on a real binary: this test's own executable", func(t *testing.T) {
		t.Parallel()
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(exe)
		if err != nil {
			t.Fatal(err)
		}
		dir := repo(t, map[string][]byte{"hygiene.test": data})
		out, err := hygiene(t, dir)
		if !errors.Is(err, errFound) || !strings.Contains(out, "hygiene.test: a compiled binary (") {
			t.Errorf("got %v and output %q, want errFound and the binary named", err, out)
		}
	})

	t.Run("judges the staged file, not the working copy", func(t *testing.T) {
		t.Parallel()
		dir := repo(t, map[string][]byte{"orderflow": elf()})
		if err := os.WriteFile(filepath.Join(dir, "orderflow"), []byte("rebuilt as text\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := hygiene(t, dir); !errors.Is(err, errFound) {
			t.Errorf("got %v, want errFound", err)
		}
	})

	t.Run("passes on a big file or a binary the allowlist names with a reason", func(t *testing.T) {
		t.Parallel()
		dir := repo(t, map[string][]byte{
			"testdata/corpus.bin": bytes.Repeat([]byte{'x'}, 2*maxSize),
			"testdata/tiny.elf":   elf(),
			".ci/hygiene-allow": []byte("# why each file is in git\n" +
				"testdata/corpus.bin  # the fuzz corpus the parser regressed on\n" +
				"\n" +
				"testdata/tiny.elf # a fixture of the ELF reader\n"),
		})
		out, err := hygiene(t, dir)
		if err != nil || out != "" {
			t.Errorf("got %v and output %q, want success and no output", err, out)
		}
	})

	t.Run("fails on an allowlist entry without a reason", func(t *testing.T) {
		t.Parallel()
		dir := repo(t, map[string][]byte{
			"big":               bytes.Repeat([]byte{'x'}, 2*maxSize),
			".ci/hygiene-allow": []byte("big\n"),
		})
		_, err := hygiene(t, dir)
		if err == nil || !strings.Contains(err.Error(), "big has no reason") {
			t.Errorf("got %v, want an error saying the entry has no reason", err)
		}
	})

	t.Run("fails on an allowlist entry for a file git does not track", func(t *testing.T) {
		t.Parallel()
		dir := repo(t, map[string][]byte{
			"main.go":           source,
			".ci/hygiene-allow": []byte("gone.bin # was a fixture\n"),
		})
		out, err := hygiene(t, dir)
		if !errors.Is(err, errFound) || !strings.Contains(out, "gone.bin, which git does not track") {
			t.Errorf("got %v and output %q, want errFound and the stale entry named", err, out)
		}
	})
}

// Not parallel: it sets the environment, so that a temporary directory
// inside some repository is not taken for part of it.
func TestHygieneFailsOutsideAGitRepository(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	t.Setenv("GIT_CEILING_DIRECTORIES", filepath.Dir(dir))
	if _, err := hygiene(t, dir); err == nil || errors.Is(err, errFound) {
		t.Errorf("got %v, want an error from git", err)
	}
}

func TestBinaryKind(t *testing.T) {
	t.Parallel()
	javaClass := []byte{0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 61}
	machOUniversal := []byte{0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2}
	peFarOff := pe()
	binary.LittleEndian.PutUint32(peFarOff[0x3c:], 1<<30)
	tests := []struct {
		name   string
		header []byte
		want   string
	}{
		{"empty", nil, ""},
		{"text", []byte("package main\n"), ""},
		{"ELF", elf(), "ELF"},
		{"64-bit little-endian Mach-O", machO(), "Mach-O"},
		{"32-bit big-endian Mach-O", []byte{0xfe, 0xed, 0xfa, 0xce}, "Mach-O"},
		{"universal Mach-O", machOUniversal, "Mach-O universal"},
		{"Java class, same magic", javaClass, ""},
		{"PE", pe(), "PE"},
		{"MZ without a PE signature", append([]byte("MZ"), make([]byte, 0x100)...), ""},
		{"MZ pointing past the header", peFarOff, ""},
	}
	for _, tt := range tests {
		if got := binaryKind(tt.header); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}
