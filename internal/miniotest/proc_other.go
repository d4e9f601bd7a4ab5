//go:build !unix

package miniotest

import (
	"os"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

func killGroup(p *os.Process) { p.Kill() }

// lockFile is a no-op here: concurrent installs merely duplicate work.
func lockFile(*os.File) error { return nil }

func reraise(os.Signal) { os.Exit(1) }
