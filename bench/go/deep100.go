package main

// deep_1m_100b: plain recursion 1,000,000 deep with an 8-word array in
// every frame, a fresh goroutine each time (the stack grows by copying);
// deep_1m_100b_frame: the bytes one level takes (array addresses at
// depths 64 and 32 from the same call site).

import (
	"time"
	"unsafe"
)

const deep100Depth = 1_000_000

var deep100Leaf uintptr

//go:noinline
func deep100(d int) int {
	var pad [8]int
	if d == 0 {
		deep100Leaf = uintptr(unsafe.Pointer(&pad))
		return 0
	}
	pad[d%8] = 1
	return deep100(d-1) + pad[d%8]
}

func deep100Batch() time.Duration {
	reps := deepFramesPerBatch / deep100Depth
	c := make(chan int)
	t := time.Now()
	for r := 0; r < reps; r++ {
		go func() { c <- deep100(deep100Depth) }()
		if v := <-c; v != deep100Depth {
			panic("deep100")
		}
	}
	return time.Since(t)
}

func deep100Frame() float64 {
	var leaf [2]uintptr
	deep100(64) // grow this goroutine's stack first: no copy below
	for k, d := range []int{64, 32} {
		if deep100(d) != d {
			panic("deep100")
		}
		leaf[k] = deep100Leaf
	}
	return float64(leaf[1]-leaf[0]) / 32
}
