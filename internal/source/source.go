// Package source names where a request comes from, for limits: one key per IPv4 address or
// IPv6 /64 (a subscriber is given a whole /64, so a per-address key on IPv6 would cost an
// attacker nothing to change), read from a trusted reverse proxy's header when the operator
// names one. It also holds the two limits keyed by it: a token bucket per key and a bound on
// concurrent work per key and in total.
package source

import (
	"container/list"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Resolver finds a request's source.
type Resolver struct {
	// Header is the header a trusted reverse proxy sets to the client's address
	// (X-Forwarded-For, or a single-address header such as X-Real-IP). Empty: the header
	// is never read.
	Header string
	// Proxies are the reverse proxies whose Header is believed; a request from any other
	// address is keyed by that address, whatever headers it sends.
	Proxies []netip.Prefix
}

// Key names the source of r: "4:a.b.c.d" or "6:<the /64>", or "?" when the address does
// not parse (all such requests share one key).
func (res *Resolver) Key(r *http.Request) string {
	return KeyOf(res.Addr(r))
}

// Addr is the client address of r: its peer address, or, when the peer is a trusted proxy,
// the last address in Header that is not one of the proxies.
func (res *Resolver) Addr(r *http.Request) netip.Addr {
	peer := remote(r.RemoteAddr)
	if res == nil || res.Header == "" || !res.trusted(peer) {
		return peer
	}
	var hops []string
	for _, v := range r.Header.Values(res.Header) {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer // a header the proxy did not write as expected: the proxy is the source
		}
		if a = a.Unmap(); !res.trusted(a) {
			return a
		}
	}
	return peer
}

func (res *Resolver) trusted(a netip.Addr) bool {
	for _, p := range res.Proxies {
		if a.IsValid() && p.Contains(a) {
			return true
		}
	}
	return false
}

func remote(hostport string) netip.Addr {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// KeyOf names an address's source: the address itself for IPv4, its /64 for IPv6.
func KeyOf(a netip.Addr) string {
	switch {
	case a.Is4():
		return "4:" + a.String()
	case a.Is6():
		p, _ := a.WithZone("").Prefix(64)
		return "6:" + p.String()
	}
	return "?"
}

// ParsePrefixes reads a comma-separated list of addresses and CIDR prefixes.
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, err
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// Limiter is a token bucket per key. It tracks at most max keys; past that the key seen
// longest ago is dropped, and starts again with a full bucket if it comes back (the bound
// costs precision, never availability).
type Limiter struct {
	r     rate.Limit
	burst int
	max   int

	mu  sync.Mutex
	m   map[string]*list.Element
	lru list.List // of *bucket, most recent first
}

type bucket struct {
	key string
	l   *rate.Limiter
}

// NewLimiter allows each key r events per second with bursts of burst, tracking at most
// max keys.
func NewLimiter(r rate.Limit, burst, max int) *Limiter {
	return &Limiter{r: r, burst: burst, max: max, m: map[string]*list.Element{}}
}

// Allow takes one token of key's bucket, if there is one.
func (l *Limiter) Allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[key]
	if ok {
		l.lru.MoveToFront(e)
	} else {
		if l.lru.Len() >= l.max {
			old := l.lru.Back()
			l.lru.Remove(old)
			delete(l.m, old.Value.(*bucket).key)
		}
		e = l.lru.PushFront(&bucket{key: key, l: rate.NewLimiter(l.r, l.burst)})
		l.m[key] = e
	}
	return e.Value.(*bucket).l.AllowN(now, 1)
}

// Gate bounds work in progress: per key, and in total.
type Gate struct {
	perKey, total int

	mu  sync.Mutex
	n   int
	per map[string]int
}

// NewGate allows perKey concurrent entries for one key and total for all.
func NewGate(perKey, total int) *Gate {
	return &Gate{perKey: perKey, total: total, per: map[string]int{}}
}

// Enter takes a place for key. ok is false when the key already has perKey places (full
// false) or every place is taken (full true); release gives the place back.
func (g *Gate) Enter(key string) (release func(), full, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n >= g.total {
		return nil, true, false
	}
	if g.per[key] >= g.perKey {
		return nil, false, false
	}
	g.n++
	g.per[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.n--
			if g.per[key]--; g.per[key] == 0 {
				delete(g.per, key)
			}
		})
	}, false, true
}

// InUse is how many places are taken.
func (g *Gate) InUse() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}
