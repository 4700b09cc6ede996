//go:build !linux

package e2e

import (
	"os/exec"
	"syscall"
)

func setProcAttr(*exec.Cmd, bool) {}

func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return cmd.Process.Kill()
}

// terminate asks the child to stop; where there is no SIGTERM it kills it.
func terminate(cmd *exec.Cmd) {
	if cmd.Process.Signal(syscall.SIGTERM) != nil {
		cmd.Process.Kill()
	}
}
