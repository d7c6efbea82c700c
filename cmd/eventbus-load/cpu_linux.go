package main

import (
	"syscall"
	"time"
	"unsafe"
)

// clockThreadCPUTime is Linux's CLOCK_THREAD_CPUTIME_ID, which the
// syscall package does not name: the CPU time of the calling thread, to
// the nanosecond (getrusage's per-thread figures move in clock ticks).
const clockThreadCPUTime = 3

// threadCPU returns the CPU time the calling thread has used so far. The
// caller must hold its thread (runtime.LockOSThread) between two readings
// for their difference to mean anything.
func threadCPU() (time.Duration, bool) {
	var ts syscall.Timespec
	_, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0)
	if errno != 0 {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
