package main

// The concurrent prime sieve from Go's documentation (go.dev/doc/play/sieve.go),
// 2,000 primes: µs per prime until the 2,000th (17,389) has arrived. The
// goroutines are left blocked afterwards, as in the original.

import "time"

const (
	sievePrimes = 2_000
	sieveLast   = 17_389
)

func generate(ch chan<- int) {
	for i := 2; ; i++ {
		ch <- i
	}
}

func filter(in <-chan int, out chan<- int, prime int) {
	for {
		i := <-in
		if i%prime != 0 {
			out <- i
		}
	}
}

func sieveRun() time.Duration {
	t := time.Now()
	ch := make(chan int)
	go generate(ch)
	prime := 0
	for i := 0; i < sievePrimes; i++ {
		prime = <-ch
		ch1 := make(chan int)
		go filter(ch, ch1, prime)
		ch = ch1
	}
	el := time.Since(t)
	if prime != sieveLast {
		panic("sieve: wrong prime")
	}
	return el
}
