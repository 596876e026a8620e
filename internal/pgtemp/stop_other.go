//go:build !linux

package pgtemp

import "syscall"

// stopWithParent does nothing where the kernel cannot stop the server
// with its parent: a server outlives a process killed without Stop.
func stopWithParent(*syscall.SysProcAttr) {}
