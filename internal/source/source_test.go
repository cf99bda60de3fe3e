package source

import (
	"net/http"
	"net/netip"
	"testing"
	"time"
)

func TestKey(t *testing.T) {
	trusted, err := ParsePrefixes("10.0.0.1, 2001:db8:ffff::/48")
	if err != nil {
		t.Fatal(err)
	}
	proxied := &Resolver{Header: "X-Forwarded-For", Proxies: trusted}
	for _, c := range []struct {
		res    *Resolver
		remote string
		header string
		want   string
	}{
		{nil, "192.0.2.7:4000", "", "4:192.0.2.7"},
		{nil, "[::ffff:192.0.2.7]:4000", "", "4:192.0.2.7"},
		{nil, "[2001:db8:1:2:3:4:5:6]:4000", "", "6:2001:db8:1:2::/64"},
		{nil, "[2001:db8:1:2:ffff:4:5:6]:4000", "", "6:2001:db8:1:2::/64"},
		{nil, "[fe80::1%eth0]:4000", "", "6:fe80::/64"},
		{nil, "garbage", "", "?"},
		// the header of an untrusted peer is ignored
		{proxied, "192.0.2.7:4000", "198.51.100.9", "4:192.0.2.7"},
		{&Resolver{}, "10.0.0.1:4000", "198.51.100.9", "4:10.0.0.1"},
		// a trusted proxy's header is read from the right, past other trusted proxies
		{proxied, "10.0.0.1:4000", "203.0.113.5, 198.51.100.9", "4:198.51.100.9"},
		{proxied, "10.0.0.1:4000", "203.0.113.5, 198.51.100.9, 2001:db8:ffff::7", "4:198.51.100.9"},
		{proxied, "[2001:db8:ffff::2]:4000", "2001:db8:5:6::1", "6:2001:db8:5:6::/64"},
		// a trusted proxy with no or a broken header is the source itself
		{proxied, "10.0.0.1:4000", "", "4:10.0.0.1"},
		{proxied, "10.0.0.1:4000", "203.0.113.5, nonsense", "4:10.0.0.1"},
	} {
		r := &http.Request{RemoteAddr: c.remote, Header: http.Header{}}
		if c.header != "" {
			r.Header.Set("X-Forwarded-For", c.header)
		}
		if got := c.res.Key(r); got != c.want {
			t.Errorf("Key(%s, %q) = %s, want %s", c.remote, c.header, got, c.want)
		}
	}
	if _, err := ParsePrefixes("10.0.0.0/8, nope"); err == nil {
		t.Error("ParsePrefixes took a malformed entry")
	}
}

func TestLimiterEvictsLeastRecent(t *testing.T) {
	now := time.Unix(0, 0)
	l := NewLimiter(1, 1, 2)
	if !l.Allow("a", now) || !l.Allow("b", now) {
		t.Fatal("fresh keys refused")
	}
	if l.Allow("a", now) {
		t.Fatal("an empty bucket allowed")
	}
	l.Allow("c", now) // evicts b, the least recent
	if l.Allow("a", now) {
		t.Fatal("a was evicted although it was used more recently than b")
	}
	if !l.Allow("b", now) {
		t.Fatal("b, evicted, did not start again with a full bucket")
	}
	if !l.Allow("a", now.Add(time.Second)) {
		t.Fatal("the bucket did not refill")
	}
}

func TestGate(t *testing.T) {
	g := NewGate(2, 3)
	r1, _, ok1 := g.Enter("a")
	_, _, ok2 := g.Enter("a")
	_, full, ok3 := g.Enter("a")
	if !ok1 || !ok2 || ok3 || full {
		t.Fatalf("per-key bound: %v %v %v full=%v", ok1, ok2, ok3, full)
	}
	_, _, ok4 := g.Enter("b")
	_, full, ok5 := g.Enter("c")
	if !ok4 || ok5 || !full {
		t.Fatalf("total bound: %v %v full=%v", ok4, ok5, full)
	}
	r1()
	r1() // twice is once
	if g.InUse() != 2 {
		t.Fatalf("in use %d after one release, want 2", g.InUse())
	}
	if _, _, ok := g.Enter("c"); !ok {
		t.Fatal("a released place was not given again")
	}
}

func TestKeyOfZone(t *testing.T) {
	if KeyOf(netip.Addr{}) != "?" {
		t.Fatal("the zero address has a key")
	}
}
