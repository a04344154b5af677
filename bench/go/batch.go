package main

// spawn_batch: start 1,000,000 empty goroutines, then wait for them all
// (one sync.WaitGroup: Go has no join handle); ns per goroutine.

import (
	"sync"
	"time"
)

const batchN = 1_000_000

func spawnBatch() time.Duration {
	var wg sync.WaitGroup
	t := time.Now()
	wg.Add(batchN)
	for i := 0; i < batchN; i++ {
		go func() { wg.Done() }()
	}
	wg.Wait()
	return time.Since(t)
}
