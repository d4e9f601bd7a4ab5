package miniotest

import "syscall"

// setPdeathsig makes the kernel kill minio if the test binary dies without
// running its cleanup (a panic, a test timeout, SIGKILL).
func setPdeathsig(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
