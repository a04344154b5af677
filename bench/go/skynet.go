package main

// skynet as published (atemerev/skynet): a 10-ary tree of 1,111,111
// goroutines summing over unbuffered channels; ms per run.

import "time"

const (
	skynetSize   = 1_000_000
	skynetDiv    = 10
	skynetAnswer = skynetSize * (skynetSize - 1) / 2
)

func skynet(c chan int, num, size, div int) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int)
	var sum int
	for i := 0; i < div; i++ {
		subNum := num + i*(size/div)
		go skynet(rc, subNum, size/div, div)
	}
	for i := 0; i < div; i++ {
		sum += <-rc
	}
	c <- sum
}

func skynetRun() time.Duration {
	c := make(chan int)
	t := time.Now()
	go skynet(c, 0, skynetSize, skynetDiv)
	r := <-c
	el := time.Since(t)
	if r != skynetAnswer {
		panic("skynet: wrong sum")
	}
	return el
}
