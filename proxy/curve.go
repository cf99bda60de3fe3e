package proxy

import (
	"container/list"
	"sync"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// curve hands out the slots of curve arithmetic (SPEC.md §4, "Concurrency and rate
// limits"). A request that finds no slot waits, first come first served, but never longer
// than wait and never behind more than queue others: past either bound it is refused busy,
// which costs the node nothing, where an unbounded queue costs memory and answers too late
// to be of use. Deposits take at most depositSlots of the slots and depositQueue of the
// waiting places, so a flood of deposits leaves re-encryption the rest.
type curve struct {
	slots, depositSlots int
	queue, depositQueue int
	wait                time.Duration

	mu              sync.Mutex
	used, deposits  int       // slots taken, by all and by deposits
	waiters         list.List // of *waiter, oldest first
	depositsWaiting int
}

type waiter struct {
	deposit bool
	ready   chan struct{} // closed once the slot is the waiter's
}

// newCurve gives deposits half the slots and half the waiting places, at least one each.
func newCurve(slots, queue int, wait time.Duration) *curve {
	return &curve{slots: slots, depositSlots: max(1, slots/2), queue: queue, depositQueue: max(1, queue/2), wait: wait}
}

// acquire takes a slot, or answers protocol.ErrBusy.
func (c *curve) acquire(deposit bool) (release func(), err error) {
	c.mu.Lock()
	// Any waiter that could use a free slot was handed one when it freed, so a free slot
	// here is one no waiter can take: taking it jumps no queue.
	if c.free(deposit) {
		c.take(deposit)
		c.mu.Unlock()
		return c.releaser(deposit), nil
	}
	if c.waiters.Len() >= c.queue || deposit && c.depositsWaiting >= c.depositQueue {
		c.mu.Unlock()
		return nil, protocol.ErrBusy
	}
	w := &waiter{deposit: deposit, ready: make(chan struct{})}
	e := c.waiters.PushBack(w)
	if deposit {
		c.depositsWaiting++
	}
	c.mu.Unlock()

	t := time.NewTimer(c.wait)
	defer t.Stop()
	select {
	case <-w.ready:
		return c.releaser(deposit), nil
	case <-t.C:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-w.ready: // handed over as the timer fired
		return c.releaser(deposit), nil
	default:
	}
	c.waiters.Remove(e)
	if deposit {
		c.depositsWaiting--
	}
	return nil, protocol.ErrBusy
}

func (c *curve) free(deposit bool) bool {
	return c.used < c.slots && (!deposit || c.deposits < c.depositSlots)
}

func (c *curve) take(deposit bool) {
	c.used++
	if deposit {
		c.deposits++
	}
}

func (c *curve) releaser(deposit bool) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.used--
			if deposit {
				c.deposits--
			}
			c.handOver()
		})
	}
}

// handOver gives free slots to the oldest waiters that may take them; a deposit past its
// share stays queued while a re-encryption behind it goes ahead.
func (c *curve) handOver() {
	for e := c.waiters.Front(); e != nil && c.used < c.slots; {
		next := e.Next()
		if w := e.Value.(*waiter); c.free(w.deposit) {
			c.waiters.Remove(e)
			if w.deposit {
				c.depositsWaiting--
			}
			c.take(w.deposit)
			close(w.ready)
		}
		e = next
	}
}

// state is the slots taken, those taken by deposits, and the requests waiting.
func (c *curve) state() (used, deposits, waiting int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used, c.deposits, c.waiters.Len()
}

// slot takes a curve slot for a request from src: at most half of the places (slots and
// queue) go to one source, so one client cannot fill the queue and have everybody else
// refused busy.
func (s *Service) slot(src string, deposit bool) (release func(), err error) {
	leave, full, ok := s.inFlight.Enter(src)
	switch {
	case !ok && full:
		return nil, protocol.ErrBusy
	case !ok:
		return nil, protocol.Errorf(protocol.ErrRateLimited, "too many requests from this source in progress")
	}
	done, err := s.curve.acquire(deposit)
	if err != nil {
		leave()
		return nil, err
	}
	return func() { done(); leave() }, nil
}
