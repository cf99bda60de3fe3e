package proxy

import (
	"errors"
	"testing"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
)

type grab struct {
	release func()
	err     error
}

// acquireAsync starts an acquire and waits until it has queued.
func acquireAsync(t *testing.T, c *curve, deposit bool) chan grab {
	t.Helper()
	_, _, before := c.state()
	ch := make(chan grab, 1)
	go func() {
		r, err := c.acquire(deposit)
		ch <- grab{r, err}
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, _, w := c.state(); w == before+1 {
			return ch
		}
		if time.Now().After(deadline) {
			t.Fatal("acquire never queued")
		}
	}
}

func mustAcquire(t *testing.T, c *curve, deposit bool) func() {
	t.Helper()
	r, err := c.acquire(deposit)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCurveQueueAndShares(t *testing.T) {
	c := newCurve(2, 4, time.Minute) // deposits: 1 slot, 2 waiting places
	a, b := mustAcquire(t, c, false), mustAcquire(t, c, false)
	d1, d2 := acquireAsync(t, c, true), acquireAsync(t, c, true)
	if _, err := c.acquire(true); !errors.Is(err, protocol.ErrBusy) {
		t.Fatalf("a third waiting deposit: %v, want busy", err)
	}
	r1, r2 := acquireAsync(t, c, false), acquireAsync(t, c, false)
	if _, err := c.acquire(false); !errors.Is(err, protocol.ErrBusy) {
		t.Fatalf("a fifth waiter: %v, want busy", err)
	}
	a() // the oldest waiter, a deposit, goes
	g := <-d1
	if g.err != nil {
		t.Fatal(g.err)
	}
	b() // the next deposit is past its share: the re-encryption behind it goes
	if g := <-r1; g.err != nil {
		t.Fatal(g.err)
	}
	if used, deposits, waiting := c.state(); used != 2 || deposits != 1 || waiting != 2 {
		t.Fatalf("state %d %d %d", used, deposits, waiting)
	}
	g.release()
	if g := <-d2; g.err != nil {
		t.Fatal(g.err)
	} else {
		g.release()
	}
	if g := <-r2; g.err != nil {
		t.Fatal(g.err)
	}
}

func TestCurveWaitBound(t *testing.T) {
	c := newCurve(1, 1, 20*time.Millisecond)
	r := mustAcquire(t, c, false)
	if _, err := c.acquire(false); !errors.Is(err, protocol.ErrBusy) {
		t.Fatalf("past the wait: %v, want busy", err)
	}
	if _, _, w := c.state(); w != 0 {
		t.Fatalf("%d left waiting after the wait", w)
	}
	r()
	r() // a second release is a no-op
	mustAcquire(t, c, true)()
	if used, _, _ := c.state(); used != 0 {
		t.Fatalf("%d slots taken after all released", used)
	}
}
