//go:build !linux

package dataplane

import "errors"

// vecFile is Linux's readv/writev path; elsewhere streams copy through a buffer instead.
type vecFile struct{}

// newVecFile has no vectored file path off Linux: nil, so callers take the buffered path.
func newVecFile(any, int) *vecFile { return nil }

var errNoVec = errors.New("dataplane: no vectored file I/O on this platform")

func (*vecFile) readv([][]byte) (int, error)  { return 0, errNoVec }
func (*vecFile) writev([][]byte) (int, error) { return 0, errNoVec }
