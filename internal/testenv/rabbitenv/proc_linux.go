package rabbitenv

import (
	"os/exec"
	"syscall"
)

// ownGroup runs the node's scripts and Erlang VM in a process group of their own, which dies
// with the test binary even when the binary is killed.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup kills the node's whole process group.
func killGroup(cmd *exec.Cmd) { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
