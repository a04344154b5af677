// Go side of bamboo's side-by-side benchmarks (see ../README.md).
//
//	go-bench <workload> [-n N]
//	workload: spawn_join | spawn_join_w1 | spawn_batch | yield_w1 | yield_w2 |
//	          pingpong | pingpong_w1 | skynet | sieve | sieve_w1 | deep_100k |
//	          deep_1m | deep_1m_100b | hot_split | parked | metrics |
//	          cpu2 | cpu2_w1 | cpu64
//
// Prints `go workload value unit` lines, like ../peers. GOMAXPROCS is 2
// (1 for the _w1 workloads), set here whatever the environment says. Each timed
// workload runs one warm-up batch and three timed batches and reports the
// mean of the three (per-batch figures on stderr).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

const (
	batches            = 3
	spawnN             = 100_000
	yieldN             = 500_000 // per goroutine; two goroutines
	pingpongN          = 100_000
	metricsN           = 20_000
	deepFramesPerBatch = 2_000_000
)

var sink int

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func timed(ops int, batch func() time.Duration) float64 {
	batch()
	v := make([]float64, 0, batches)
	for i := 0; i < batches; i++ {
		v = append(v, float64(batch().Nanoseconds())/float64(ops))
	}
	fmt.Fprintf(os.Stderr, "batches (ns/op): %.1f\n", v)
	return mean(v)
}

func emit(w string, v float64, unit string) {
	fmt.Printf("go %s %.2f %s\n", w, v, unit)
}

func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		panic(err)
	}
	f := strings.Fields(string(b))
	p, _ := strconv.ParseUint(f[1], 10, 64)
	return p * 4096
}

//go:noinline
func deep(d int) int {
	if d == 0 {
		return 0
	}
	return deep(d-1) + 1
}

func spawnJoin() time.Duration {
	c := make(chan int, 1)
	t := time.Now()
	for i := 0; i < spawnN; i++ {
		go func(i int) { c <- i }(i)
		sink += <-c
	}
	return time.Since(t)
}

func yield() time.Duration {
	t := time.Now()
	done := make(chan struct{}, 2)
	for g := 0; g < 2; g++ {
		go func() {
			for i := 0; i < yieldN; i++ {
				runtime.Gosched()
			}
			done <- struct{}{}
		}()
	}
	<-done
	<-done
	return time.Since(t)
}

func pingpong() time.Duration {
	c1 := make(chan int)
	c2 := make(chan int)
	done := make(chan struct{})
	t := time.Now()
	go func() {
		for v := range c1 {
			c2 <- v + 1
		}
		close(done)
	}()
	for i := 0; i < pingpongN; i++ {
		c1 <- i
		sink += <-c2
	}
	close(c1)
	<-done
	return time.Since(t)
}

func deepBatch(d int) time.Duration {
	reps := deepFramesPerBatch / d
	c := make(chan int)
	t := time.Now()
	for r := 0; r < reps; r++ {
		go func() { c <- deep(d) }()
		if v := <-c; v != d {
			panic("deep")
		}
	}
	return time.Since(t)
}

func parked(n int) {
	ch := make(chan struct{})
	var nparked, ndone int64
	base := rss()
	for i := 0; i < n; i++ {
		go func() {
			atomic.AddInt64(&nparked, 1)
			<-ch
			atomic.AddInt64(&ndone, 1)
		}()
	}
	for atomic.LoadInt64(&nparked) < int64(n) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	full := rss()
	t := time.Now() // close readies every waiter itself
	close(ch)
	for atomic.LoadInt64(&ndone) < int64(n) {
		time.Sleep(time.Millisecond)
	}
	release := time.Since(t)
	fmt.Fprintf(os.Stderr, "go parked %d: rss before %d MiB, parked %d MiB, release %v\n",
		n, base>>20, full>>20, release)
	emit(parkedLabel(n), float64(full-base)/float64(n), "bytes/coroutine")
	emit(parkedLabel(n)+"_release", float64(release.Nanoseconds())/float64(n), "ns/coroutine")
}

func parkedLabel(n int) string {
	switch n {
	case 100_000:
		return "parked_100k"
	case 1_000_000:
		return "parked_1m"
	}
	return fmt.Sprintf("parked_%d", n)
}

func readMetrics() {
	descs := metrics.All()
	samples := make([]metrics.Sample, len(descs))
	for i := range descs {
		samples[i].Name = descs[i].Name
	}
	v := timed(metricsN, func() time.Duration {
		t := time.Now()
		for i := 0; i < metricsN; i++ {
			metrics.Read(samples)
		}
		return time.Since(t)
	})
	fmt.Fprintf(os.Stderr, "go metrics: %d metrics per read\n", len(samples))
	emit("metrics_read", v, "ns/read")
	emit("metrics_per_metric", v/float64(len(samples)), "ns/metric")
	emit("metrics_count", float64(len(samples)), "metrics")
}

func main() {
	n := flag.Int("n", 100_000, "parked goroutines")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: go-bench <workload> [-n N]")
		os.Exit(2)
	}
	w := flag.Arg(0)
	if strings.HasSuffix(w, "_w1") {
		runtime.GOMAXPROCS(1)
	} else {
		runtime.GOMAXPROCS(2)
	}
	// Run the workload on a goroutine other than main, like the others.
	done := make(chan struct{})
	go func() {
		defer close(done)
		switch w {
		case "skynet":
			emit(w, timed(1, skynetRun)/1e6, "ms")
		case "sieve", "sieve_w1":
			emit(w, timed(sievePrimes, sieveRun)/1e3, "us/prime")
		case "spawn_batch":
			emit(w, timed(batchN, spawnBatch), "ns/op")
		case "deep_1m_100b":
			emit(w, timed(deepFramesPerBatch, deep100Batch), "ns/frame")
			emit("deep_1m_100b_frame", deep100Frame(), "bytes/frame")
		case "cpu2", "cpu2_w1":
			emit(w, timed(1, cpu2)/1e6, "ms")
		case "cpu64":
			procs := runtime.GOMAXPROCS(0)
			cpu64(procs) // warm-up
			var ms, shares []float64
			for i := 0; i < batches; i++ {
				el, s := cpu64(procs)
				ms = append(ms, float64(el.Nanoseconds())/1e6)
				shares = append(shares, s)
			}
			fmt.Fprintf(os.Stderr, "go cpu64_share batches: %.2f\n", shares)
			emit(w, mean(ms), "ms")
			emit("cpu64_share", mean(shares), "max/avg")
		case "spawn_join", "spawn_join_w1":
			emit(w, timed(spawnN, spawnJoin), "ns/op")
		case "yield_w1", "yield_w2":
			emit(w, timed(2*yieldN, yield), "ns/op")
		case "pingpong", "pingpong_w1":
			emit(w, timed(pingpongN, pingpong), "ns/op")
		case "deep_100k":
			emit(w, timed(deepFramesPerBatch, func() time.Duration { return deepBatch(100_000) }), "ns/frame")
		case "deep_1m":
			emit(w, timed(deepFramesPerBatch, func() time.Duration { return deepBatch(1_000_000) }), "ns/frame")
		case "hot_split":
			// Go's stacks are contiguous (grown by copying): there is no
			// boundary to cross repeatedly, so nothing comparable to time.
			fmt.Printf("go hot_split skip contiguous_stacks\n")
		case "parked":
			parked(*n)
		case "metrics":
			readMetrics()
		default:
			fmt.Printf("go %s skip unknown_workload\n", w)
		}
	}()
	<-done
}
