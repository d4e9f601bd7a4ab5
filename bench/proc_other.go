//go:build !linux

package main

import (
	"errors"
	"syscall"
	"time"
)

// The measurements read /proc: they need Linux. Elsewhere the package
// builds, and the load test runs without the CPU and memory figures.

var errNoProc = errors.New("bench: CPU and memory figures need Linux (/proc)")

func procCPU(int) (time.Duration, error)      { return 0, errNoProc }
func procStatusKB(int, string) (int64, error) { return 0, errNoProc }
func peakRSS(int) (int64, error)              { return 0, errNoProc }
func machineBusy() (time.Duration, error)     { return 0, errNoProc }
func loadAvg() string                         { return "" }
func selfCPU() time.Duration                  { return 0 }
func childPID(string) int                     { return 0 }
func sysProcAttr() *syscall.SysProcAttr       { return nil }
