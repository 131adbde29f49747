package dataplane

import "golang.org/x/sys/unix"

// yieldCPU lets the kernel run another thread on this core if one is waiting (a peer process
// woken by our last packet, the netpoller's thread), and returns at once if none is: a polling
// reader must not hold a core the other end of its exchange needs.
func yieldCPU() { unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }
