// select over two ready buffered channels (and the unbuffered ping-pong),
// the Go side of bench/select. usage: select-go (select2|pingpong)
// Prints "go <workload> <ns> ns/op": mean of three batches after a warm-up,
// run in a goroutine other than main, GOMAXPROCS from the environment.
package main

import (
	"fmt"
	"os"
	"time"
)

const n = 1_000_000
const roundtrips = 100_000

var sink uint64

func select2() float64 {
	a := make(chan uint64, n)
	b := make(chan uint64, n)
	for i := uint64(0); i < n; i++ {
		a <- i
		b <- i
	}
	t0 := time.Now()
	var sum uint64
	for i := 0; i < n; i++ {
		select {
		case v := <-a:
			sum += v
		case v := <-b:
			sum += v
		}
	}
	e := time.Since(t0)
	sink += sum
	return float64(e.Nanoseconds()) / n
}

func pingpong() float64 {
	a := make(chan uint64)
	b := make(chan uint64)
	go func() {
		for v := range a {
			b <- v + 1
		}
	}()
	t0 := time.Now()
	for i := uint64(0); i < roundtrips; i++ {
		a <- i
		sink += <-b
	}
	e := time.Since(t0)
	close(a)
	return float64(e.Nanoseconds()) / roundtrips
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: select-go (select2|pingpong)")
		os.Exit(2)
	}
	var f func() float64
	switch os.Args[1] {
	case "select2":
		f = select2
	case "pingpong":
		f = pingpong
	default:
		fmt.Fprintln(os.Stderr, "unknown workload", os.Args[1])
		os.Exit(2)
	}
	done := make(chan float64)
	go func() {
		f()
		s := 0.0
		for i := 0; i < 3; i++ {
			s += f()
		}
		done <- s / 3
	}()
	fmt.Printf("go %s %.1f ns/op\n", os.Args[1], <-done)
}
