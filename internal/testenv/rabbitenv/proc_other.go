//go:build !linux

package rabbitenv

import "os/exec"

// ownGroup does nothing off Linux, where the private node is not supported by the tests'
// machines; Start still runs it.
func ownGroup(*exec.Cmd) {}

// killGroup kills the node's first process.
func killGroup(cmd *exec.Cmd) { cmd.Process.Kill() }
