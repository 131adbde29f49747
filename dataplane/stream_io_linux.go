//go:build linux

package dataplane

import (
	"io"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// vecFile does readv and writev on an *os.File through its RawConn, so a pipe or socket in
// non-blocking mode still parks in the runtime's poller rather than spinning. Its callbacks are
// method values made once, and its iovec array is reused, so a call allocates nothing.
type vecFile struct {
	name    string // the file's, for errors
	rc      syscall.RawConn
	iovs    []unix.Iovec
	n       int
	err     error
	readFn  func(fd uintptr) bool
	writeFn func(fd uintptr) bool
}

// newVecFile returns a vecFile for x when it is an *os.File, nil otherwise; n is the most
// slices one call passes.
func newVecFile(x any, n int) *vecFile {
	f, ok := x.(*os.File)
	if !ok || f == nil {
		return nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	vf := &vecFile{name: f.Name(), rc: rc, iovs: make([]unix.Iovec, 0, n)}
	vf.readFn, vf.writeFn = vf.rawReadv, vf.rawWritev
	return vf
}

// setIov points the iovec array at bufs (empty slices left out).
func (vf *vecFile) setIov(bufs [][]byte) {
	vf.iovs = vf.iovs[:0]
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		v := unix.Iovec{Base: &b[0]}
		v.SetLen(len(b))
		vf.iovs = append(vf.iovs, v)
	}
}

// readv reads once into bufs, in order, and returns how many bytes it read: 0 at the end of the
// file. Errors are *os.PathError, as os.File's own.
func (vf *vecFile) readv(bufs [][]byte) (int, error) {
	vf.setIov(bufs)
	if len(vf.iovs) == 0 {
		return 0, nil
	}
	vf.n, vf.err = 0, nil
	if err := vf.rc.Read(vf.readFn); err != nil {
		return 0, &os.PathError{Op: "read", Path: vf.name, Err: err}
	}
	if vf.err != nil {
		return 0, &os.PathError{Op: "read", Path: vf.name, Err: vf.err}
	}
	return vf.n, nil
}

// writev writes every byte of bufs, in order, and returns how many it wrote.
func (vf *vecFile) writev(bufs [][]byte) (int, error) {
	done := 0
	for {
		vf.setIov(bufs)
		if len(vf.iovs) == 0 {
			return done, nil
		}
		vf.n, vf.err = 0, nil
		if err := vf.rc.Write(vf.writeFn); err != nil {
			return done, &os.PathError{Op: "write", Path: vf.name, Err: err}
		}
		if vf.err != nil {
			return done, &os.PathError{Op: "write", Path: vf.name, Err: vf.err}
		}
		if vf.n == 0 {
			return done, io.ErrShortWrite
		}
		done += vf.n
		bufs = advance(bufs, vf.n)
	}
}

// advance drops the first n bytes of bufs (a partial writev), reusing its array.
func advance(bufs [][]byte, n int) [][]byte {
	for n > 0 && len(bufs) > 0 {
		if n >= len(bufs[0]) {
			n -= len(bufs[0])
			bufs = bufs[1:]
			continue
		}
		bufs[0] = bufs[0][n:]
		n = 0
	}
	return bufs
}

func (vf *vecFile) rawReadv(fd uintptr) bool { return vf.rawv(unix.SYS_READV, fd) }

func (vf *vecFile) rawWritev(fd uintptr) bool { return vf.rawv(unix.SYS_WRITEV, fd) }

// rawv runs readv or writev once (again after EINTR); false asks the poller to wait (EAGAIN).
func (vf *vecFile) rawv(trap, fd uintptr) bool {
	for {
		n, _, e := unix.Syscall(trap, fd, uintptr(unsafe.Pointer(&vf.iovs[0])), uintptr(len(vf.iovs)))
		switch e {
		case 0:
			vf.n = int(n)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		vf.err = e
		return true
	}
}
