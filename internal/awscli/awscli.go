// Package awscli finds the AWS CLI installations the cross-client tests
// drive: version 2 (Debian's awscli package installs it as /usr/bin/aws;
// elsewhere it is whichever aws on PATH says aws-cli/2) and version 1 (an
// aws on PATH that says aws-cli/1, as pip installs it). Each is told
// apart by what `aws --version` prints, not by where it lives, so the
// tests find the CLI on any machine that has it.
package awscli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// What a test says when Find finds no AWS CLI v2: what is missing, where
// it was looked for, and the command that installs it.
const (
	MissingV2 = "the AWS CLI v2 (no /usr/bin/aws, and no aws on PATH that says aws-cli/2)"
	InstallV2 = "run make deps, or apt-get install awscli as root"
)

// Find returns the paths of an AWS CLI v2 and v1, "" for one not found.
// It looks at /usr/bin/aws first, then along path (a PATH value).
func Find(path string) (v2, v1 string) {
	return find([]string{"/usr/bin/aws"}, path)
}

// find looks at the paths in first, then along path.
func find(first []string, path string) (v2, v1 string) {
	seen := map[string]bool{}
	for _, p := range append(first, candidates(path)...) {
		if seen[p] || (v1 != "" && v2 != "") {
			continue
		}
		seen[p] = true
		switch Version(p) {
		case 2:
			if v2 == "" {
				v2 = p
			}
		case 1:
			if v1 == "" {
				v1 = p
			}
		}
	}
	return v2, v1
}

// Version returns the major version of the AWS CLI at p (1 or 2), or 0 if
// p is not one that runs.
func Version(p string) int {
	if fi, err := os.Stat(p); err != nil || fi.IsDir() {
		return 0
	}
	out, err := exec.Command(p, "--version").CombinedOutput()
	if err != nil {
		return 0
	}
	switch v := strings.TrimSpace(string(out)); {
	case strings.HasPrefix(v, "aws-cli/2."):
		return 2
	case strings.HasPrefix(v, "aws-cli/1."):
		return 1
	}
	return 0
}

func candidates(path string) []string {
	var out []string
	for _, dir := range filepath.SplitList(path) {
		if dir != "" {
			out = append(out, filepath.Join(dir, "aws"))
		}
	}
	return out
}
