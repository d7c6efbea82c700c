//go:build !linux

package main

import "time"

// threadCPU reports that the CPU time of a thread cannot be read here; the
// tui scenario then counts a render's wall time instead.
func threadCPU() (time.Duration, bool) { return 0, false }
