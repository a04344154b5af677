// The network benchmarks of ../src in Go (net/http and net), GOMAXPROCS=2:
//
//	go-net http ADDR           keep-alive hello server until killed
//	go-net echo CONNS SECS     echo round trips, server + clients in-process
//	go-net idle CONNS          RSS per idle connection
//
// Results: `go workload value unit` lines.
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const msgSize = 64

func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		panic(err)
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * 4096
}

func arg(i int, d int) int {
	if len(os.Args) > i {
		n, err := strconv.Atoi(os.Args[i])
		if err != nil {
			panic(err)
		}
		return n
	}
	return d
}

func echoServer(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			panic(err)
		}
		go func(c net.Conn) {
			buf := make([]byte, 4096)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
			}
		}(c)
	}
}

func main() {
	runtime.GOMAXPROCS(2)
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: go-net http ADDR | echo CONNS SECS | idle CONNS")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "http":
		addr := "127.0.0.1:8080"
		if len(os.Args) > 2 {
			addr = os.Args[2]
		}
		body := []byte("Hello, World!")
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write(body)
		})
		panic(http.ListenAndServe(addr, nil))
	case "echo":
		conns, secs := arg(2, 64), arg(3, 5)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		go echoServer(l)
		var stop atomic.Bool
		var total atomic.Uint64
		var wg sync.WaitGroup
		for i := 0; i < conns; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.Dial("tcp", l.Addr().String())
				if err != nil {
					panic(err)
				}
				msg := make([]byte, msgSize)
				back := make([]byte, msgSize)
				n := uint64(0)
				for !stop.Load() {
					if _, err := c.Write(msg); err != nil {
						panic(err)
					}
					if _, err := io.ReadFull(c, back); err != nil {
						panic(err)
					}
					n++
				}
				total.Add(n)
			}()
		}
		time.Sleep(time.Duration(secs) * time.Second)
		stop.Store(true)
		wg.Wait()
		fmt.Printf("go echo_rtt_%dconns %.0f round-trips/s\n", conns, float64(total.Load())/float64(secs))
	case "idle":
		conns := arg(2, 4000)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		go echoServer(l)
		time.Sleep(200 * time.Millisecond)
		runtime.GC()
		before := rss()
		var opened atomic.Int64
		for i := 0; i < conns; i++ {
			go func() {
				c, err := net.Dial("tcp", l.Addr().String())
				if err != nil {
					panic(err)
				}
				opened.Add(1)
				b := make([]byte, 1)
				c.Read(b)
			}()
		}
		for opened.Load() < int64(conns) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond)
		after := rss()
		fmt.Fprintf(os.Stderr, "go idle: rss %d -> %d\n", before, after)
		fmt.Printf("go idle_rss_per_conn_%d %d bytes/conn\n", conns, (after-before)/uint64(conns))
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}
