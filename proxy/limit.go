package proxy

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxLimited bounds the keys a limiter tracks; past it, idle keys are
// dropped (a dropped key starts again with a full bucket, so the bound
// costs precision, never availability).
const maxLimited = 1 << 14

// limiter is a token bucket per key.
type limiter struct {
	r     rate.Limit
	burst int

	mu sync.Mutex
	m  map[any]*entry
}

type entry struct {
	l    *rate.Limiter
	seen time.Time
}

func newLimiter(r rate.Limit, burst int) *limiter {
	return &limiter{r: r, burst: burst, m: make(map[any]*entry)}
}

func (l *limiter) allow(k any, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[k]
	if !ok {
		if len(l.m) >= maxLimited {
			l.evict(now)
		}
		e = &entry{l: rate.NewLimiter(l.r, l.burst)}
		l.m[k] = e
	}
	e.seen = now
	return e.l.AllowN(now, 1)
}

// evict drops keys idle long enough to have refilled their bucket, or
// everything if none has.
func (l *limiter) evict(now time.Time) {
	full := time.Duration(float64(l.burst) / float64(l.r) * float64(time.Second))
	for k, e := range l.m {
		if now.Sub(e.seen) > full {
			delete(l.m, k)
		}
	}
	if len(l.m) >= maxLimited {
		clear(l.m)
	}
}
