// A CPU-bound Go program, built stripped (-ldflags=-s -w) by the test:
// its functions must still be named, from .gopclntab.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

//go:noinline
func cprofGoBurn(n int) uint64 {
	x := uint64(1)
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

var sink uint64

func main() {
	secs := 10
	if len(os.Args) > 1 {
		secs, _ = strconv.Atoi(os.Args[1])
	}
	fmt.Printf("pid %d\n", os.Getpid())
	end := time.Now().Add(time.Duration(secs) * time.Second)
	for time.Now().Before(end) {
		sink += cprofGoBurn(1000000)
	}
}
