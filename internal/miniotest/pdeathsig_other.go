//go:build unix && !linux

package miniotest

import "syscall"

func setPdeathsig(*syscall.SysProcAttr) {}
