package blobs

import (
	"container/heap"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/resilientrecords/resilientrecords/protocol"
)

// queue orders replication work: records to ensure now, first come first served, and records
// whose last attempt failed, each waiting out its own backoff. A record naming a CID nobody
// has fails for ever; the backoff makes it cost a fetch every RetryMax at most, and the
// alternation between new work and due retries keeps a flood of either from starving the
// other.
type queue struct {
	min, max time.Duration // backoff of the first failure, and the cap
	limit    int           // records held, queued or failed, at most

	mu      sync.Mutex
	now     []protocol.ID
	queued  map[protocol.ID]bool // in now
	running map[protocol.ID]bool
	rerun   map[protocol.ID]bool // queued while running: ensure again when it finishes
	failed  map[protocol.ID]*retry
	due     retryHeap
	turn    bool // a due retry goes before new work next time both wait
	dropped bool // work was forgotten for want of room; a walk of the ledger finds it again

	wake chan struct{} // work was added or finished
	room chan struct{} // work was taken
}

// retry is a record whose blob could not be ensured.
type retry struct {
	id    protocol.ID
	fails int
	at    time.Time
	index int // in due; -1 while queued or running
	// others: the last run waited for the placed nodes (errNotYet), so this node's own work
	// is done: not replication lag.
	others bool
}

func newQueue(min, max time.Duration, limit int) *queue {
	return &queue{min: min, max: max, limit: limit,
		queued: map[protocol.ID]bool{}, running: map[protocol.ID]bool{}, rerun: map[protocol.ID]bool{},
		failed: map[protocol.ID]*retry{}, wake: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// backoff is the pause after the fails-th failure in a row: lo doubled each time up to hi,
// then a random point in its upper half, so that records which failed together (one block
// of junk) do not come due together.
func backoff(fails int, lo, hi time.Duration, jitter float64) time.Duration {
	d := lo
	for i := 1; i < fails && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d/2 + time.Duration(jitter*float64(d/2))
}

// add queues id to run now: new work, or a record whose blob just became available (its
// failure count is kept, in case it fails again).
func (q *queue) add(id protocol.ID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.running[id]:
		q.rerun[id] = true
	case q.queued[id]:
		return
	default:
		r := q.failed[id]
		if r == nil && len(q.queued)+len(q.failed) >= q.limit {
			// New work goes before a record that already failed: were it the other way
			// round, enough junk would keep every new record out.
			if len(q.due) == 0 {
				q.dropped = true
				return
			}
			q.evictLocked()
		}
		if r != nil && r.index >= 0 {
			heap.Remove(&q.due, r.index)
		}
		q.queued[id] = true
		q.now = append(q.now, id)
	}
	poke(q.wake)
}

// offer queues id unless the queue already knows it: a walk of the ledger must not cut short
// the backoff of records that keep failing.
func (q *queue) offer(id protocol.ID) {
	q.mu.Lock()
	known := q.running[id] || q.queued[id] || q.failed[id] != nil
	q.mu.Unlock()
	if !known {
		q.add(id)
	}
}

// forget drops the backoff of a record that needs no more work (it was erased).
func (q *queue) forget(id protocol.ID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if r := q.failed[id]; r != nil && r.index >= 0 {
		heap.Remove(&q.due, r.index)
		delete(q.failed, id)
	}
}

// next takes the next record to run at time t. When there is none, wait is how long until a
// retry comes due (0: nothing waits).
func (q *queue) next(t time.Time) (id protocol.ID, ok bool, wait time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	ready := len(q.due) > 0 && !q.due[0].at.After(t)
	switch {
	case len(q.now) > 0 && !(ready && q.turn):
		id, q.now[0] = q.now[0], protocol.ID{}
		q.now = q.now[1:]
		delete(q.queued, id)
		q.turn = ready
	case ready:
		id = heap.Pop(&q.due).(*retry).id
		q.turn = false
	case len(q.due) > 0:
		return id, false, q.due[0].at.Sub(t)
	default:
		return id, false, 0
	}
	q.running[id] = true
	poke(q.room)
	return id, true, 0
}

// done records the outcome of a run that ended at t, and returns the record's failures in a
// row.
func (q *queue) done(id protocol.ID, err error, t time.Time) (fails int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.running, id)
	r := q.failed[id]
	if err == nil {
		delete(q.failed, id)
	} else {
		if r == nil {
			r = &retry{id: id, index: -1}
			q.failed[id] = r
		}
		r.fails++
		fails = r.fails
		r.others = errors.Is(err, errNotYet)
	}
	if q.rerun[id] {
		delete(q.rerun, id)
		q.queued[id] = true
		q.now = append(q.now, id)
	} else if err != nil {
		r.at = t.Add(backoff(r.fails, q.min, q.max, rand.Float64()))
		heap.Push(&q.due, r)
	}
	for len(q.queued)+len(q.failed) > q.limit && len(q.due) > 0 {
		q.evictLocked()
	}
	poke(q.wake)
	return fails
}

// evictLocked forgets a retry that is due late: a leaf of the heap, which no retry below
// it waits on. Finding the very last would cost a scan of them all, for each new record.
func (q *queue) evictLocked() {
	r := heap.Remove(&q.due, len(q.due)-1).(*retry)
	delete(q.failed, r.id)
	q.dropped = true
}

// backlog is how many records wait to run now.
func (q *queue) backlog() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.now)
}

// lag is how many records the queue holds whose blob this node has still to store and report:
// waiting, running, or backing off after a failure (but not those only waiting for the
// nodes they are placed on). A record queued by a commit counts before its first run checks
// where it is placed, so on a network that places blobs on fewer than every node this is an
// upper bound, for as long as a run takes.
func (q *queue) lag() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.queued) + len(q.running)
	for id, r := range q.failed {
		if !r.others && !q.queued[id] && !q.running[id] {
			n++
		}
	}
	return n
}

// takeDropped reports, once, that work was forgotten since the last call.
func (q *queue) takeDropped() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	d := q.dropped
	q.dropped = false
	return d
}

// retryHeap orders failed records by when they come due.
type retryHeap []*retry

func (h retryHeap) Len() int           { return len(h) }
func (h retryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h retryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *retryHeap) Push(x any) {
	r := x.(*retry)
	r.index = len(*h)
	*h = append(*h, r)
}
func (h *retryHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	r.index = -1
	return r
}
