package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// versionString describes this build from the information Go embeds in
// it: the module version (a release's tag when installed with `go install
// …@version`; built from a git checkout, a pseudo-version naming the
// commit, "+dirty" for uncommitted changes; "(devel)" when the build
// recorded no version control), the commit and its time if the version
// does not already name them, and the Go version.
func versionString(info *debug.BuildInfo, ok bool) string {
	if !ok || info == nil {
		return "unknown (built without module information)"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at string
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	// Go 1.24 and later make a checkout's version a pseudo-version that
	// already names the commit and its time.
	if rev != "" && !strings.Contains(v, rev) {
		v += ", commit " + rev
		if dirty {
			v += "+dirty"
		}
		if at != "" {
			v += " (" + at + ")"
		}
	}
	return v + ", " + info.GoVersion
}

func versionCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print this build's version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, ok := debug.ReadBuildInfo()
			_, err := fmt.Fprintf(e.stdout, "orderflow %s\n", versionString(info, ok))
			return err
		},
	}
}
