package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestSyncEveryIsRefusedWhenItMeansNothingOrTooMuch(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a negative interval", []string{"up", "--data-dir", t.TempDir(), "--sync-every", "-1s"},
			"orderflow: --sync-every -1s is negative: give an interval from 0 (sync before every answer, the default) to 10s\n"},
		{"an interval above the maximum", []string{"up", "--data-dir", t.TempDir(), "--sync-every", "10.001s"},
			"orderflow: --sync-every 10.001s is above 10s, the most a power loss should be allowed to take; longer intervals make nothing faster\n"},
		{"an interval without a data directory", []string{"up", "--sync-every", "100ms"},
			"orderflow: --sync-every goes with --data-dir: in memory there is no log to sync\n"},
		{"bench with an interval without a data directory", []string{"bench", "--sync-every", "100ms"},
			"orderflow: --sync-every goes with --data-dir: in memory there is no log to sync\n"},
		{"bench with a negative interval", []string{"bench", "--data-dir", t.TempDir(), "--sync-every", "-5ms"},
			"orderflow: --sync-every -5ms is negative: give an interval from 0 (sync before every answer, the default) to 10s\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tc.args, func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
			if want := tc.want + "Run 'orderflow --help' for usage.\n"; code != 2 || errOut.String() != want || out.Len() > 0 {
				t.Errorf("exit %d\nstdout %q\nstderr %q\nwant exit 2, no stdout, stderr %q", code, out.String(), errOut.String(), want)
			}
		})
	}
}

func TestUpHelpSaysWhatSyncEveryGivesUp(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"up", "--help"}, func(string) string { return "" }, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("up --help exited %d: %s", code, errOut.String())
	}
	help := strings.Join(strings.Fields(out.String()), " ")
	for _, want := range []string{
		"--sync-every DURATION (with --data-dir) trades the last moments before a power loss for speed: a request is still written to the data directory's log before it is answered, so kill -9 of orderflow loses nothing acknowledged, but it is answered without waiting for the disk to confirm the write (fdatasync); the log is synced in the background at least every DURATION, and on shutdown. A power loss or an OS crash may then lose the requests acknowledged in the last DURATION (and up may then find the log's end damaged and ask for --recover). The default, 0, syncs before every answer.",
		"--sync-every duration with --data-dir: answer a request once it is written to the log, and sync the log to disk in the background at least this often (e.g. 100ms) instead of before every answer; kill -9 still loses nothing acknowledged, a power loss or OS crash may lose the last interval's requests; at most 10s; 0 syncs before every answer",
		"orderflow up --data-dir ./orderflow-data --sync-every 100ms # faster; a power loss may lose the last 100ms",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("up --help lacks %q:\n%s", want, out.String())
		}
	}
}
