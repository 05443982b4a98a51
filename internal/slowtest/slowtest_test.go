package slowtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestReasonSaysWhyAndWhatRunsIt(t *testing.T) {
	got := Reason("kill -9 of a child process")
	want := "slow: kill -9 of a child process; make test runs it"
	if got != want {
		t.Errorf("Reason = %q, want %q", got, want)
	}
}

// TestSkipSkipsOnlyUnderShort runs TestHelperSlow in a child test binary,
// with and without -test.short, and reads what it printed.
func TestSkipSkipsOnlyUnderShort(t *testing.T) {
	for _, tc := range []struct {
		short bool
		want  string
	}{
		{true, "--- SKIP: TestHelperSlow"},
		{false, "--- PASS: TestHelperSlow"},
	} {
		short := "-test.short=false"
		if tc.short {
			short = "-test.short=true"
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSlow$", "-test.v", short)
		cmd.Env = append(os.Environ(), "SLOWTEST_HELPER=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", short, err, out)
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("%s: output lacks %q:\n%s", short, tc.want, out)
		}
		ran := strings.Contains(string(out), "the slow part ran")
		if ran == tc.short {
			t.Errorf("%s: the slow part ran = %v:\n%s", short, ran, out)
		}
		if tc.short && !strings.Contains(string(out), "slow: a helper for this test; make test runs it") {
			t.Errorf("%s: the skip does not say why:\n%s", short, out)
		}
	}
}

func TestHelperSlow(t *testing.T) {
	if os.Getenv("SLOWTEST_HELPER") == "" {
		t.Skip("run by TestSkipSkipsOnlyUnderShort")
	}
	Skip(t, "a helper for this test")
	t.Log("the slow part ran")
}
