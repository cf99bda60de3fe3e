// Package benchkit holds the small helpers the benchmark commands under scripts/ share: order
// statistics, size flags, the CPU time and load of this machine, and CPU profiles.
package benchkit

import (
	"cmp"
	"fmt"
	"math"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/resilientrecords/resilientrecords/node"
)

// Median returns the median of xs (the mean of the two middle values when there is an even
// number of them), or zero for none. xs is not reordered.
func Median[T ~int64 | ~float64](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Percentile returns the value at fraction p (0 to 1) of xs in order, the element at index
// ⌊p·(n−1)⌋ (no interpolation), or zero for none. xs is not reordered.
func Percentile[T cmp.Ordered](xs []T, p float64) T {
	if len(xs) == 0 {
		var zero T
		return zero
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1))]
}

// ParseSize parses a byte count with an optional binary suffix: "512", "64K", "100M", "1G".
func ParseSize(s string) (int64, error) {
	num, mult := s, int64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		}
		if mult > 1 {
			num = s[:n-1]
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 || v > math.MaxInt64/mult {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return v * mult, nil
}

// ProcessCPU is the user+system CPU time this process has used (zero if it cannot be read).
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// LoadAvg is the machine's 1, 5 and 15 minute load averages from /proc/loadavg, such as
// "0.52 0.61 0.70", or "?" where there is no such file.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if err != nil || len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// CPUProfile starts a CPU profile written to path and returns the function that stops it and
// closes the file. With an empty path it does nothing.
func CPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// LoopbackAPI makes a local network's nodes believe X-Forwarded-For from loopback, as nodes
// behind a reverse proxy believe it: a benchmark's clients, all on 127.0.0.1, then each
// count as the source From gives them, and the nodes' limits per source apply as they would
// to clients on their own machines.
var LoopbackAPI = node.APISettings{TrustedProxyHeader: "X-Forwarded-For", TrustedProxies: []string{"127.0.0.0/8"}}

// From sends every request through rt as coming from client i's own address (10.x.y.z).
func From(rt http.RoundTripper, i int) http.RoundTripper {
	return &fromAddr{rt: rt, addr: fmt.Sprintf("10.%d.%d.%d", (i>>16)&0xff, (i>>8)&0xff, i&0xff)}
}

type fromAddr struct {
	rt   http.RoundTripper
	addr string
}

func (f *fromAddr) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.addr)
	return f.rt.RoundTrip(r)
}
