//go:build !linux

package natsenv

import "os/exec"

// dieWithParent does nothing where the kernel cannot signal a child when its parent dies: a
// test binary killed outright leaves the server running, and Stop is the only way it ends.
func dieWithParent(*exec.Cmd) {}
