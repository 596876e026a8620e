package pgtemp

import "syscall"

// stopWithParent has the kernel stop the server (a fast shutdown) if
// this process dies without stopping it.
func stopWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGINT }
