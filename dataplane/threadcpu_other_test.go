//go:build !linux

package dataplane

// threadCPU is not measured off Linux: the benchmark reports wall time only.
type threadCPU struct {
	ok    bool
	total int64
}

func (c *threadCPU) start() {}
func (c *threadCPU) stop()  {}
func (c *threadCPU) reset() {}
