package main

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// tourAddr is where the README's commands expect orderflow up: its
// default address, typed as written.
const tourAddr = "127.0.0.1:4566"

// TestReadmeTour runs the README as a newcomer types it in, top to bottom
// (testdata/tour/readme.txtar): go install, orderflow up in the background
// as the second terminal, every command of the tour against it. It runs on
// 4566 because the README says 4566; where another process holds that port
// it cannot run, which CI treats as a failure.
func TestReadmeTour(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: installs orderflow and runs the README's tour end to end; make test runs it")
	}
	ln, err := net.Listen("tcp", tourAddr)
	if err != nil {
		msg := tourAddr + " is taken (" + err.Error() + "): the tour runs the README's commands as written, on orderflow up's default address; stop what listens there"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ln.Close()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	goEnv := goEnvironment(t)
	testscript.Run(t, testscript.Params{
		Dir: "testdata/tour",
		Cmds: map[string]func(*testscript.TestScript, bool, []string){
			"waitfor": waitForCmd,
			"sleep":   sleepCmd,
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("REPO", repo)
			// go install and go run build in the module's caches, as on
			// the newcomer's machine; nothing else ambient reaches the
			// commands.
			for k, v := range goEnv {
				env.Setenv(k, v)
			}
			return nil
		},
	})
}

// goEnvironment is what the go command needs to build offline from the
// caches this test was built from.
func goEnvironment(t *testing.T) map[string]string {
	t.Helper()
	out, err := exec.Command("go", "env", "-json", "GOCACHE", "GOMODCACHE", "GOPATH", "GOPROXY", "GOFLAGS", "GONOSUMDB", "GOPRIVATE", "GOTOOLCHAIN", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	env := map[string]string{}
	if err := json.Unmarshal(out, &env); err != nil {
		t.Fatalf("go env: %v", err)
	}
	for k, v := range env {
		if v == "" {
			delete(env, k)
		}
	}
	// The go command wants a home; testscript gives it none.
	env["HOME"] = t.TempDir()
	return env
}

// waitForCmd waits, up to 30 s, for a URL to answer 200: `waitfor URL`, as
// a person waits for up's banner before typing in the other terminal.
func waitForCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitfor URL")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(args[0])
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not answer 200 within 30 s (last: %v)", args[0], err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTheTourTypesEveryCommandOfTheReadme checks that every command in
// the README's sh blocks is in the tour's transcript, but the blocks
// marked `<!-- not in the tour: why -->` on the line before them: the
// README and what the test runs cannot drift apart.
func TestTheTourTypesEveryCommandOfTheReadme(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	tour, err := os.ReadFile("testdata/tour/readme.txtar")
	if err != nil {
		t.Fatal(err)
	}
	typed := map[string]bool{}
	for _, line := range strings.Split(string(tour), "\n") {
		if c := scriptCommand(line); c != "" {
			typed[c] = true
		}
	}
	commands := readmeCommands(t, string(readme))
	if len(commands) < 10 {
		t.Fatalf("found only %d commands in the README's sh blocks: %q", len(commands), commands)
	}
	for _, c := range commands {
		if why, ok := notTyped[c]; ok {
			t.Logf("not in the tour: %s: %s", c, why)
			continue
		}
		if !typed[c] {
			t.Errorf("the README's command\n\t%s\nis not in testdata/tour/readme.txtar (type it there, or mark its block <!-- not in the tour: why -->)", c)
		}
	}
}

// notTyped are the README's commands the tour cannot type, each with why.
var notTyped = map[string]string{
	"make test": "the suite the tour runs in",
}

var (
	scriptPrefix = regexp.MustCompile(`^(\[[^\]]+\]\s+)*(!\s+)?(exec\s+)?`)
	scriptSuffix = regexp.MustCompile(`\s+&(\w+&)?$`)
	spaces       = regexp.MustCompile(`\s+`)
)

// scriptCommand is the shell command a testscript line runs, written as in
// the README: exec's conditions, negation and backgrounding dropped, env
// as export. "" for lines that run no command.
func scriptCommand(line string) string {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "-- ") {
		return ""
	}
	if rest, ok := strings.CutPrefix(line, "env "); ok {
		return "export " + spaces.ReplaceAllString(rest, " ")
	}
	line = scriptPrefix.ReplaceAllString(line, "")
	line = scriptSuffix.ReplaceAllString(line, "")
	return spaces.ReplaceAllString(line, " ")
}

// readmeCommands are the commands of the README's sh blocks: continuation
// lines joined, comments and white space runs dropped.
func readmeCommands(t *testing.T, readme string) []string {
	t.Helper()
	var (
		out      []string
		inBlock  bool
		skip     bool
		previous string
		pending  string
	)
	sc := bufio.NewScanner(strings.NewReader(readme))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !inBlock && line == "```sh":
			inBlock, skip = true, strings.HasPrefix(previous, "<!-- not in the tour:")
		case inBlock && line == "```":
			inBlock = false
			if pending != "" {
				t.Fatalf("README: a sh block ends in a continuation line: %q", pending)
			}
		case inBlock && !skip:
			code, _, _ := strings.Cut(line, " #")
			code = strings.TrimSpace(code)
			if strings.HasPrefix(code, "#") {
				code = ""
			}
			if more, ok := strings.CutSuffix(code, `\`); ok {
				pending += more + " "
				continue
			}
			code = spaces.ReplaceAllString(strings.TrimSpace(pending+code), " ")
			pending = ""
			if code != "" {
				out = append(out, code)
			}
		}
		if strings.TrimSpace(line) != "" {
			previous = line
		}
	}
	return out
}
