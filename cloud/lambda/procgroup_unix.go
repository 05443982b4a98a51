//go:build unix

package lambda

import (
	"os"
	"os/exec"
	"syscall"
)

// ownGroup makes the process lead a process group of its own, so that a
// kill reaches whatever it started too.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killGroup kills the process's group.
func killGroup(p *os.Process) {
	syscall.Kill(-p.Pid, syscall.SIGKILL)
	p.Kill()
}
