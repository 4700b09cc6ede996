package e2e

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the child die with the thread that started it (a test
// binary killed by -timeout leaves nothing behind) and, with group, lead a
// process group of its own, so that killGroup reaches its children too.
func setProcAttr(cmd *exec.Cmd, group bool) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: group}
}

// killGroup kills the child's process group (the child and whatever it
// started).
func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

// terminate asks the child to stop.
func terminate(cmd *exec.Cmd) { cmd.Process.Signal(syscall.SIGTERM) }
