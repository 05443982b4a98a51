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

// maxRSSKiB is an ended process's peak resident set (ru_maxrss: KiB on
// Linux), 0 when unknown.
func maxRSSKiB(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > 0 {
		return ru.Maxrss
	}
	return 0
}
