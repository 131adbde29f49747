package dataplane

import "golang.org/x/sys/unix"

// yieldCPU lets the kernel run another thread on this core if one is waiting (a peer process
// woken by our last packet, the netpoller's thread), and returns at once if none is: a polling
// reader must not hold a core the other end of its exchange needs.
//
// A raw system call: sched_yield never blocks, and through syscall.Syscall a yield during which
// the kernel ran another thread for longer than sysmon's 20 µs tick had the reader's P handed to
// another thread, so the poll loop hopped between threads, each hop a thread wake-up
// (batchio's conn_linux.go says more).
func yieldCPU() { unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }
