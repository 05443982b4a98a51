//go:build !unix

package lambda

import (
	"os"
	"os/exec"
)

func ownGroup(*exec.Cmd) {}

func killGroup(p *os.Process) { p.Kill() }

func maxRSSKiB(*os.ProcessState) int64 { return 0 }
