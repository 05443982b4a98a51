package main

import (
	"bytes"
	"context"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionStringSaysWhatWasBuilt(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var out []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			out = append(out, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return out
	}
	for _, tc := range []struct {
		name string
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{"a release installed with go install", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}},
			true, "v1.4.0, go1.26.8"},
		{"a checkout, committed", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", "f15a4d4c0ffee0123456789abcdef0123456789a", "vcs.time", "2026-12-06T16:50:00Z", "vcs.modified", "false")},
			true, "(devel), commit f15a4d4c0ffe (2026-12-06T16:50:00Z), go1.26.8"},
		{"a checkout with uncommitted changes", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", "f15a4d4", "vcs.modified", "true")},
			true, "(devel), commit f15a4d4+dirty, go1.26.8"},
		{"a checkout, as Go 1.24 and later version it", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261206170645-1fba3f7ba693+dirty"},
			Settings: settings("vcs.revision", "1fba3f7ba6930000000000000000000000000000", "vcs.time", "2026-12-06T17:06:45Z", "vcs.modified", "true")},
			true, "v0.0.0-20261206170645-1fba3f7ba693+dirty, go1.26.8"},
		{"no module version recorded", &debug.BuildInfo{GoVersion: "go1.26.8"}, true, "(devel), go1.26.8"},
		{"no build information", nil, false, "unknown (built without module information)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := versionString(tc.info, tc.ok); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestVersionAndDashDashVersionPrintTheSameLine(t *testing.T) {
	var lines []string
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errOut); code != 0 {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errOut.String())
		}
		line := out.String()
		info, ok := debug.ReadBuildInfo()
		if want := "orderflow " + versionString(info, ok) + "\n"; line != want {
			t.Errorf("%v printed %q, want %q", args, line, want)
		}
		lines = append(lines, line)
	}
	if lines[0] != lines[1] {
		t.Errorf("version and --version differ: %q, %q", lines[0], lines[1])
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"version", "extra"}, func(string) string { return "" }, strings.NewReader(""), &out, &errOut); code != 2 {
		t.Errorf("version with an argument: exit %d, want 2 (stderr %q)", code, errOut.String())
	}
}
