//go:build !unix

package miniotest

import (
	"os"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

func killGroup(p *os.Process) { p.Kill() }

func reraise(os.Signal) { os.Exit(1) }
