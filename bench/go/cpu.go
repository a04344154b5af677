package main

// CPU-parallel workloads (see ../peers/src/cpu.rs): cpu2/cpu2_w1, two
// CPU-bound goroutines, ms on 2 and 1 Ps; cpu64, 64 of them spawned in a
// burst, and cpu64_share, the busiest thread's chunks over the average per
// P (the thread of every chunk from gettid).

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

const (
	chunkIters = 10_000
	cpu2Chunks = 5_000
	cpu64N     = 64
	cpu64Chunk = 500
)

//go:noinline
func spin(x uint64) uint64 {
	for i := 0; i < chunkIters; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

type tally struct {
	mu sync.Mutex
	m  map[int]uint64
}

func work(seed uint64, chunks int, t *tally) uint64 {
	x := seed | 1
	var mine map[int]uint64
	if t != nil {
		mine = map[int]uint64{}
	}
	for i := 0; i < chunks; i++ {
		x = spin(x)
		if t != nil {
			mine[syscall.Gettid()]++
		}
	}
	if t != nil {
		t.mu.Lock()
		for id, n := range mine {
			t.m[id] += n
		}
		t.mu.Unlock()
	}
	return x
}

var cpuSink uint64

func cpu2() time.Duration {
	var wg sync.WaitGroup
	var r [2]uint64
	t := time.Now()
	wg.Add(2)
	for g := 0; g < 2; g++ {
		go func(g int) { r[g] = work(uint64(g+1), cpu2Chunks, nil); wg.Done() }(g)
	}
	wg.Wait()
	cpuSink += r[0] ^ r[1]
	return time.Since(t)
}

// cpu64 runs the burst once and returns the time and the busiest thread's share.
func cpu64(procs int) (time.Duration, float64) {
	tl := &tally{m: map[int]uint64{}}
	var wg sync.WaitGroup
	t := time.Now()
	res := make([]uint64, cpu64N)
	wg.Add(cpu64N)
	for g := 0; g < cpu64N; g++ {
		go func(g int) { res[g] = work(uint64(g), cpu64Chunk, tl); wg.Done() }(g)
	}
	wg.Wait()
	el := time.Since(t)
	for _, x := range res {
		cpuSink += x
	}
	var total, max uint64
	counts := []uint64{}
	for _, n := range tl.m {
		total += n
		if n > max {
			max = n
		}
		counts = append(counts, n)
	}
	threads := len(tl.m)
	if threads < procs {
		threads = procs
	}
	fmt.Fprintf(os.Stderr, "cpu64: chunks per thread %v\n", counts)
	return el, float64(max) / (float64(total) / float64(threads))
}
