//go:build !linux

package wspath

// setNotSentLowat is Linux-only; elsewhere the outbound budget alone bounds what waits.
func setNotSentLowat(fd, n int) error { return nil }
