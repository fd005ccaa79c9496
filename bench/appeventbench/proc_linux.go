package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes presign serve die with the benchmark, even when it is killed.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
