//go:build unix

package miniotest

import (
	"os"
	"os/signal"
	"syscall"
)

// sysProcAttr puts minio in its own process group, so that killGroup
// reaches it and anything it spawns.
func sysProcAttr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	setPdeathsig(a)
	return a
}

func killGroup(p *os.Process) {
	syscall.Kill(-p.Pid, syscall.SIGKILL)
}

// reraise delivers sig again with its default action (usually death).
func reraise(sig os.Signal) {
	signal.Reset(sig)
	if s, ok := sig.(syscall.Signal); ok {
		syscall.Kill(os.Getpid(), s)
	}
	os.Exit(1)
}
