//go:build race

package wspath

// poisonLent makes the read queue overwrite the bytes a lend handed over when the next read takes
// them back, in race builds (make test's): a reader that keeps a lent packet past its next read
// then reads poisonByte instead of its packet, and whatever checks the data fails, where in a
// normal build it would read a packet that was not yet overwritten most of the time.
const poisonLent = true
