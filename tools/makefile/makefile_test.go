package makefile

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/internal/slowtest"
)

// root is the module's root, where the Makefile is.
const root = "../.."

// makeIn runs make in the module's root with args and env added to an
// environment cleared of what a calling make or the shell could pass on
// (MAKEFLAGS, MAKELEVEL, GO, CI), and returns its combined output.
func makeIn(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed (the README's commands need it: apt-get install make)")
	}
	cmd := exec.Command("make", append([]string{"--no-print-directory"}, args...)...)
	cmd.Dir = root
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "GNUMAKEFLAGS", "MAKEFILES", "GO", "CI":
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustMake(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, err := makeIn(t, env, args...)
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// makefile reads the Makefile's targets, in order, and the descriptions
// of its `## target: description` comments.
func makefile(t *testing.T) (targets []string, described []string, desc map[string]string) {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	desc = map[string]string{}
	rule := regexp.MustCompile(`^([a-z0-9-]+):`)
	comment := regexp.MustCompile(`^## ([a-z0-9-]+): (.+)$`)
	s := bufio.NewScanner(f)
	for s.Scan() {
		if m := rule.FindStringSubmatch(s.Text()); m != nil && !strings.Contains(s.Text(), ":=") {
			targets = append(targets, m[1])
		}
		if m := comment.FindStringSubmatch(s.Text()); m != nil {
			described = append(described, m[1])
			desc[m[1]] = m[2]
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return targets, described, desc
}

func TestMakeWithNoTargetListsEveryTargetAndRunsNothingElse(t *testing.T) {
	targets, described, desc := makefile(t)
	if strings.Join(targets, " ") != strings.Join(described, " ") {
		t.Errorf("the targets, in order, are\n  %s\nbut the ## comments describe\n  %s", strings.Join(targets, " "), strings.Join(described, " "))
	}
	for _, name := range []string{"help", "check", "test", "install", "deps", "test-deps", "lint", "reliability"} {
		if desc[name] == "" {
			t.Errorf("no ## %s: description in the Makefile", name)
		}
	}
	if targets[0] != "help" {
		t.Errorf("the first target is %s, want help (what make with no target runs)", targets[0])
	}

	want := "Usage: make TARGET, one of:\n"
	for _, name := range described {
		want += fmt.Sprintf("  %-12s %s\n", name, desc[name])
	}
	if got := mustMake(t, nil); got != want {
		t.Errorf("make printed\n%s\nwant\n%s", got, want)
	}
	if got := mustMake(t, nil, "help"); got != want {
		t.Errorf("make help printed\n%s\nwant\n%s", got, want)
	}

	dry := mustMake(t, nil, "-n")
	for _, cmd := range []string{"apt-get", "npm", "deps.sh", "go test", "go install", "go build", "go run"} {
		if strings.Contains(dry, cmd) {
			t.Errorf("make with no target would run %q:\n%s", cmd, dry)
		}
	}
}

// TestOnlyMakeDepsInstallsTheClients: make test and make check run
// nothing that installs (apt-get, npm, scripts/deps.sh); make deps does.
func TestOnlyMakeDepsInstallsTheClients(t *testing.T) {
	for _, tc := range []struct {
		target     string
		runs       []string
		runsNot    []string
		installing bool
	}{
		{"test", []string{"gofmt -l", "go vet ./...", "staticcheck@", "go run ./tools/hygiene", "go test ./...", "go build"}, []string{"-short"}, false},
		{"check", []string{"gofmt -l", "go vet ./...", "go test -short ./..."}, []string{"staticcheck"}, false},
		{"deps", []string{"scripts/deps.sh"}, nil, true},
		{"test-deps", []string{"scripts/deps.sh"}, nil, true},
	} {
		t.Run(tc.target, func(t *testing.T) {
			dry := mustMake(t, nil, "-n", tc.target)
			for _, cmd := range tc.runs {
				if !strings.Contains(dry, cmd) {
					t.Errorf("make -n %s does not show %q:\n%s", tc.target, cmd, dry)
				}
			}
			for _, cmd := range tc.runsNot {
				if strings.Contains(dry, cmd) {
					t.Errorf("make -n %s shows %q:\n%s", tc.target, cmd, dry)
				}
			}
			if tc.installing {
				return
			}
			for _, cmd := range []string{"apt-get", "npm", "deps.sh", "sudo"} {
				if strings.Contains(dry, cmd) {
					t.Errorf("make %s would run %q:\n%s", tc.target, cmd, dry)
				}
			}
		})
	}
}

func TestMakeInstallSaysWhereTheBinaryWentAndWhetherItIsOnPATH(t *testing.T) {
	slowtest.Skip(t, "links orderflow with go install, three times")
	path := os.Getenv("PATH")
	modcache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	gobin, gopath := t.TempDir(), t.TempDir()
	for _, tc := range []struct {
		name   string
		env    []string
		bin    string
		onPATH bool
	}{
		{"into GOBIN, not on PATH", []string{"GOBIN=" + gobin, "PATH=" + path}, gobin, false},
		{"into GOBIN, on PATH", []string{"GOBIN=" + gobin, "PATH=" + gobin + string(os.PathListSeparator) + path}, gobin, true},
		// Without GOBIN (and without go env -w settings) go install uses
		// GOPATH's bin; the module cache stays where it is, so nothing is
		// downloaded.
		{"into GOPATH/bin", []string{"GOENV=off", "GOBIN=", "GOPATH=" + gopath, "GOMODCACHE=" + strings.TrimSpace(string(modcache)), "PATH=" + path}, filepath.Join(gopath, "bin"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := mustMake(t, tc.env, "install")
			if want := "Installed orderflow as " + filepath.Join(tc.bin, "orderflow") + ".\n"; !strings.Contains(out, want) {
				t.Errorf("make install printed\n%s\nwant it to say %q", out, want)
			}
			advice := tc.bin + ` is not on your PATH: add it (export PATH="$PATH:` + tc.bin + `") to run orderflow by name.`
			if got := strings.Contains(out, advice); got == tc.onPATH {
				t.Errorf("make install printed\n%s\nsaying %q: %v, want %v", out, advice, got, !tc.onPATH)
			}
			fi, err := os.Stat(filepath.Join(tc.bin, "orderflow"))
			if err != nil || fi.Mode()&0o111 == 0 {
				t.Fatalf("no executable orderflow in %s: %v", tc.bin, err)
			}
			if runtime.GOOS == "linux" {
				// Built without cgo: no dynamic loader and libc to map
				// and run at each start (docs/benchmarks.md, "Start-up").
				f, err := elf.Open(filepath.Join(tc.bin, "orderflow"))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				for _, p := range f.Progs {
					if p.Type == elf.PT_INTERP {
						t.Errorf("make install built a dynamically linked orderflow (it has an ELF interpreter); want it built with CGO_ENABLED=0")
					}
				}
			}
		})
	}
}
